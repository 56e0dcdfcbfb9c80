"""The door of the HTTP endpoint: a request is checked before Bolt reads it.

First the signature and its timestamp, over the raw bytes, as Slack signs them (``v0=`` HMAC-SHA256 of
``v0:{timestamp}:{body}``, at most five minutes old): anything else is answered 401. Then the payload: a signed body
that is not a JSON object (or a form whose ``payload`` is not one) is answered 400. Each refusal is one log line,
never a traceback, so a flood of bad requests cannot flood the log.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)
#: How old (or how far ahead) a request's timestamp may be, in seconds, as Slack advises.
MAX_AGE = 5 * 60
_MAX_TIMESTAMP_DIGITS = 12


class Refused(Exception):
    """A request the endpoint does not pass to Bolt: its HTTP ``status`` and the reason, for the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def check_signature(body: bytes, headers: Mapping[str, str], secret: str, now: float | None = None) -> None:
    """Raise :class:`Refused` (401) unless ``body`` carries Slack's signature with a fresh timestamp."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise Refused(401, "no Slack signature")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_TIMESTAMP_DIGITS):
        raise Refused(401, "a timestamp that is not a number of seconds")
    if abs((time.time() if now is None else now) - int(timestamp)) > MAX_AGE:
        raise Refused(401, "a timestamp more than five minutes away")
    digest = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(f"v0={digest}".encode(), signature.encode("utf-8", "surrogateescape")):
        raise Refused(401, "a signature that does not match")


def bolt_request(body: bytes, request: web.Request) -> AsyncBoltRequest:
    """The request as Bolt reads it; :class:`Refused` (400) when it is not a payload Slack sends."""
    try:
        text = body.decode("utf-8")
        bolt = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
    except (ValueError, TypeError, AttributeError, KeyError) as exc:  # JSON, UTF-8, or a list where Bolt wants keys
        raise Refused(400, f"a body Bolt cannot read ({type(exc).__name__})") from None
    problem = _shape_problem(bolt.body)
    if problem:
        raise Refused(400, problem)
    return bolt


def _shape_problem(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return "a payload that is not a JSON object"
    if "event" in payload and not isinstance(payload["event"], dict):
        return "an event that is not an object"
    return None


def endpoint(secret: str, dispatch: Callable[[AsyncBoltRequest], Awaitable[BoltResponse]]
             ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler: the checks above, then Bolt's ``dispatch``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        try:
            check_signature(body, request.headers, secret)
            bolt = bolt_request(body, request)
            response = await dispatch(bolt)
        except Refused as refused:
            log.warning("refused a Slack request from %s (%s): %s", request.remote, refused.status, refused)
            return web.Response(status=refused.status, text=f"{refused}\n")
        except (KeyError, TypeError, AttributeError) as exc:  # Bolt's own reading of a signed but odd payload
            log.warning("refused a Slack request from %s (400): Bolt cannot route it (%s: %s)", request.remote,
                        type(exc).__name__, exc)
            return web.Response(status=400, text="a payload Bolt cannot route\n")
        return await to_aiohttp_response(response)

    return handle


__all__ = ["MAX_AGE", "Refused", "bolt_request", "check_signature", "endpoint"]
