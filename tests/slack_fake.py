"""A local fake of Slack for end-to-end tests of the Slack adapter, on aiohttp, bound to 127.0.0.1.

It plays every part of Slack the adapter talks to:

- the Web API (``POST``/``GET /api/<method>``), answering like Slack and recording every call with its method,
  merged parameters (query string, form or JSON body, as ``slack_sdk`` sends them), raw body and headers;
- ``response_url`` endpoints (``POST /response/<name>``) that record what Bolt's ``respond()`` posts;
- file uploads as ``files_upload_v2`` makes them: ``files.getUploadURLExternal`` hands out an upload URL on the
  fake itself (``POST /upload/<file_id>``, recorded as the call ``upload``), which takes the raw bytes; then
  ``files.completeUploadExternal`` shares the uploaded files into a channel (and thread). Each shared file is kept
  as an :class:`UploadedFile` (bytes, filename, title, alt text, channel, thread) in :attr:`FakeSlack.files`;
- the Socket Mode websocket (the URL ``apps.connections.open`` returns): it greets with ``hello``, lets a test push
  envelopes and records the client's acknowledgements.

It also signs requests exactly as Slack does (:func:`sign`) and builds Slack-shaped payloads (events, slash
commands, block actions, shortcuts, view submissions) so the tests read like the Slack documentation.

The servers run on their own event loop in a background thread (:class:`LoopThread`), so tests stay synchronous
and the code under test can never block the fake. Every wait is a polling loop with a deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import WSMsgType, web

from fake_support import DEFAULT_TIMEOUT, POLL, LoopThread, wait_until  # noqa: F401 - re-exported to tests

T = TypeVar("T")

BOT_TOKEN = "xoxb-test"
APP_TOKEN = "xapp-test"
SIGNING_SECRET = "s3cret"
TEAM_ID = "T1"
APP_ID = "A0RRR"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
AUTH_TEST = {"ok": True, "url": "https://rrr-network.slack.com/", "team": "RRR network", "user": "rrr",
             "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "is_enterprise_install": False}
#: The most user ids ``conversations.open`` takes ("Provide 1 to 8 user IDs"; more: ``too_many_users``).
MAX_CONVERSATION_USERS = 8
#: Parameters that slack_sdk sends as JSON strings when it posts a form; the fake decodes them.
JSON_PARAMS = ("blocks", "attachments", "view", "metadata", "user_ids", "users", "files")
# -- signing ---------------------------------------------------------------------------------------------------------

def sign(body: bytes | str, secret: str = SIGNING_SECRET, timestamp: int | str | None = None) -> dict[str, str]:
    """The headers Slack adds to a request: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}`` with the secret."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode("utf-8"), b"v0:" + ts.encode("ascii") + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


# -- payloads shaped like Slack's ------------------------------------------------------------------------------------

_ids = itertools.count(1)


def next_ts() -> str:
    """A fresh message timestamp, as Slack writes them ("1700000000.000100")."""
    return f"{int(time.time())}.{next(_ids):06d}"


def event_callback(event: Mapping[str, Any], *, event_id: str | None = None, team_id: str = TEAM_ID) -> dict:
    """An Events API ``event_callback`` envelope around ``event``."""
    return {
        "token": "verification-token-unused", "team_id": team_id, "api_app_id": APP_ID,
        "event": dict(event), "type": "event_callback", "event_id": event_id or f"Ev{next(_ids):08d}",
        "event_time": int(time.time()), "event_context": f"4-ctx{next(_ids)}",
        "authorizations": [{"enterprise_id": None, "team_id": team_id, "user_id": BOT_USER_ID, "is_bot": True,
                            "is_enterprise_install": False}],
        "is_ext_shared_channel": False,
    }


def app_mention(text: str, *, user: str = "U0ASKER", channel: str = "C0GENERAL", ts: str | None = None,
                thread_ts: str | None = None) -> dict:
    """An ``app_mention`` event; ``text`` should start with ``<@UBOT>`` as Slack writes it."""
    ts = ts or next_ts()
    event = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
             "client_msg_id": f"msg-{next(_ids)}", "team": TEAM_ID,
             "blocks": [{"type": "rich_text", "block_id": "b1",
                         "elements": [{"type": "rich_text_section",
                                       "elements": [{"type": "text", "text": text}]}]}]}
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def direct_message(text: str, *, user: str = "U0ASKER", channel: str = "D0ASKER", ts: str | None = None,
                   **extra: Any) -> dict:
    """A ``message`` event in a DM (``channel_type: im``); ``extra`` adds e.g. ``bot_id`` or ``subtype``."""
    ts = ts or next_ts()
    event = {"type": "message", "channel": channel, "user": user, "text": text, "ts": ts, "event_ts": ts,
             "channel_type": "im", "team": TEAM_ID}
    if "bot_id" not in extra and "subtype" not in extra:
        event["client_msg_id"] = f"msg-{next(_ids)}"
    event.update(extra)
    return event


def slash_command(text: str, *, response_url: str, command: str = "/rrr", user: str = "U0ASKER",
                  channel: str = "C0GENERAL", user_name: str = "asker") -> dict[str, str]:
    """The form fields of a slash command invocation."""
    return {
        "token": "verification-token-unused", "team_id": TEAM_ID, "team_domain": "rrr-network",
        "channel_id": channel, "channel_name": "general", "user_id": user, "user_name": user_name,
        "command": command, "text": text, "api_app_id": APP_ID, "is_enterprise_install": "false",
        "response_url": response_url, "trigger_id": f"{next(_ids)}.trigger",
    }


def _user(user: str) -> dict:
    return {"id": user, "username": user.lower(), "name": user.lower(), "team_id": TEAM_ID}


def block_action(action_id: str, value: str, *, response_url: str, user: str = "U0ASKER",
                 channel: str = "C0GENERAL", message: Mapping[str, Any] | None = None,
                 container_type: str = "message", is_ephemeral: bool = False, block_id: str = "actions") -> dict:
    """A ``block_actions`` payload for a click on the button ``action_id`` carrying ``value``."""
    message_ts = (message or {}).get("ts") or next_ts()
    payload: dict[str, Any] = {
        "type": "block_actions", "user": _user(user), "api_app_id": APP_ID, "token": "verification-token-unused",
        "container": {"type": container_type, "message_ts": message_ts, "channel_id": channel,
                      "is_ephemeral": is_ephemeral},
        "trigger_id": f"{next(_ids)}.trigger", "team": {"id": TEAM_ID, "domain": "rrr-network"},
        "enterprise": None, "is_enterprise_install": False,
        "channel": {"id": channel, "name": "general"}, "response_url": response_url,
        "state": {"values": {}},
        "actions": [{"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                     "text": {"type": "plain_text", "text": action_id, "emoji": True},
                     "action_ts": f"{time.time():.6f}"}],
    }
    if not is_ephemeral:
        payload["message"] = dict(message or {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID,
                                               "ts": message_ts, "text": "answer"})
    return payload


def message_shortcut(callback_id: str, message: Mapping[str, Any], *, response_url: str,
                     user: str = "U0ASKER", channel: str = "C0GENERAL") -> dict:
    """A ``message_action`` payload (a message shortcut used on ``message``)."""
    return {
        "type": "message_action", "token": "verification-token-unused", "action_ts": f"{time.time():.6f}",
        "team": {"id": TEAM_ID, "domain": "rrr-network"}, "user": _user(user),
        "channel": {"id": channel, "name": "general"}, "is_enterprise_install": False, "enterprise": None,
        "callback_id": callback_id, "trigger_id": f"{next(_ids)}.trigger", "message_ts": message["ts"],
        "message": dict(message), "response_url": response_url,
    }


def input_values(view: Mapping[str, Any]) -> dict[str, tuple[str, str, Any]]:
    """``{block_id: (action_id, element type, initial value)}`` of every input block of a view."""
    out = {}
    for block in view.get("blocks", []):
        if block.get("type") == "input":
            element = block.get("element", {})
            initial = element.get("initial_value")
            if initial is None and "initial_option" in element:
                initial = element["initial_option"]
            for key in ("initial_date", "initial_time"):  # datepicker, timepicker
                if initial is None and key in element:
                    initial = element[key]
            out[block.get("block_id", "")] = (element.get("action_id", ""), element.get("type", ""), initial)
    return out


def view_submission(view: Mapping[str, Any], values: Mapping[str, str] | None = None, *,
                    user: str = "U0ASKER") -> dict:
    """Submit a modal the adapter opened: each input keeps its prefilled value unless ``values`` (by block id or
    action id) replaces it; ``callback_id`` and ``private_metadata`` are carried over as Slack does."""
    values = dict(values or {})
    state: dict[str, dict[str, Any]] = {}
    for block_id, (action_id, kind, initial) in input_values(view).items():
        given = values.get(block_id, values.get(action_id, initial))
        if kind in ("static_select", "external_select", "radio_buttons"):
            option = given if isinstance(given, dict) or given is None else \
                {"text": {"type": "plain_text", "text": str(given)}, "value": str(given)}
            state[block_id] = {action_id: {"type": kind, "selected_option": option}}
        elif kind == "datepicker":
            state[block_id] = {action_id: {"type": kind, "selected_date": given}}
        elif kind == "timepicker":
            state[block_id] = {action_id: {"type": kind, "selected_time": given, "timezone": "Europe/Madrid"}}
        else:
            state[block_id] = {action_id: {"type": kind or "plain_text_input", "value": given}}
    view_id = view.get("id") or f"V{next(_ids):08d}"
    return {
        "type": "view_submission", "team": {"id": TEAM_ID, "domain": "rrr-network"}, "user": _user(user),
        "api_app_id": APP_ID, "token": "verification-token-unused", "trigger_id": f"{next(_ids)}.trigger",
        "is_enterprise_install": False, "enterprise": None, "response_urls": [],
        "view": {
            "id": view_id, "team_id": TEAM_ID, "type": view.get("type", "modal"), "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""), "callback_id": view.get("callback_id", ""),
            "state": {"values": state}, "hash": f"{next(_ids)}.hash", "title": view.get("title"),
            "close": view.get("close"), "submit": view.get("submit"), "root_view_id": view_id,
            "app_id": APP_ID, "external_id": "", "app_installed_team_id": TEAM_ID, "bot_id": BOT_ID,
            "previous_view_id": None, "clear_on_close": False, "notify_on_close": False,
        },
    }


def walk_blocks(blocks: Iterable[Mapping[str, Any]]) -> Iterable[Mapping[str, Any]]:
    """Every block and nested element (accessories, elements of actions/context blocks)."""
    for block in blocks or ():
        yield block
        if isinstance(block.get("accessory"), Mapping):
            yield block["accessory"]
        for element in block.get("elements", ()) or ():
            if isinstance(element, Mapping):
                yield element
        if isinstance(block.get("element"), Mapping):
            yield block["element"]


def buttons(blocks: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The buttons of a message or view, by action id."""
    return {e["action_id"]: e for e in walk_blocks(blocks) if e.get("type") == "button" and "action_id" in e}


def blocks_text(blocks: Iterable[Mapping[str, Any]]) -> str:
    """All human-readable text in ``blocks`` (sections, fields, headers, context, buttons, rich text)."""
    parts: list[str] = []

    def add(obj: Any) -> None:
        if isinstance(obj, Mapping):
            if obj.get("type") in ("plain_text", "mrkdwn", "text") and isinstance(obj.get("text"), str):
                parts.append(obj["text"])
            for key, value in obj.items():
                if key != "text" or not isinstance(value, str):
                    add(value)
        elif isinstance(obj, list):
            for item in obj:
                add(item)

    add(list(blocks or ()))
    return "\n".join(parts)


# -- the recorded traffic --------------------------------------------------------------------------------------------

@dataclass
class Call:
    """One request the fake received: a Web API call, or a post to a response_url (method ``response:<name>``)."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    body: bytes
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)

    @property
    def blocks(self) -> list[dict]:
        blocks = self.params.get("blocks") or []
        return blocks if isinstance(blocks, list) else []

    @property
    def text(self) -> str:
        """The call's ``text`` plus the text of its blocks."""
        return "\n".join(filter(None, [str(self.params.get("text") or ""), blocks_text(self.blocks)]))

    @property
    def view(self) -> dict:
        view = self.params.get("view") or {}
        return view if isinstance(view, dict) else {}

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.params.items() if k != "token"}
        text = json.dumps(shown, ensure_ascii=False, default=str)
        return f"<{self.method} {self.status} {text[:600]}{'...' if len(text) > 600 else ''}>"


@dataclass
class UploadedFile:
    """A file shared by ``files.completeUploadExternal``: its bytes (sent to the upload URL) and where it went."""

    id: str
    filename: str
    title: str
    alt_txt: str
    data: bytes
    channel: str | None
    thread_ts: str | None
    initial_comment: str | None = None

    @property
    def size(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return (f"<file {self.id} {self.filename!r} {self.size} bytes to {self.channel}"
                f"{' thread ' + self.thread_ts if self.thread_ts else ''}>")


Handler = Callable[[dict[str, Any]], dict[str, Any]]


class FakeSlack:
    """The fake Slack servers. ``start()`` binds 127.0.0.1 on a free port; ``stop()`` frees everything."""

    def __init__(self, *, bot_token: str = BOT_TOKEN, app_token: str = APP_TOKEN) -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.calls: list[Call] = []
        self.acks: list[dict[str, Any]] = []
        self.socket_messages: list[Any] = []
        self.socket_connections = 0
        self.usergroups: dict[str, list[str]] = {"S0COORD": ["UCOORD"]}
        self.users: dict[str, dict[str, Any]] = {}
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.handlers: dict[str, Handler] = {}
        #: Uploads started by ``files.getUploadURLExternal``, by file id: filename, length, alt text, bytes (None
        #: until the upload URL received them).
        self.uploads: dict[str, dict[str, Any]] = {}
        #: Files shared by ``files.completeUploadExternal``, in order.
        self.files: list[UploadedFile] = []
        self._rate_limited: dict[str, list[int]] = {}
        self._failures: dict[str, list[tuple[int, str]]] = {}
        self._lock = threading.Lock()
        self._sockets: list[web.WebSocketResponse] = []
        self._thread: LoopThread | None = None
        self._runner: web.AppRunner | None = None
        self._ts = itertools.count(1)
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> FakeSlack:
        self._thread = LoopThread("fake-slack")
        self.port = self._thread.run(self._start())
        return self

    async def _start(self) -> int:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown() -> None:
            for ws in list(self._sockets):
                await ws.close()
            if self._runner is not None:
                await self._runner.cleanup()

        try:
            self._thread.run(shutdown())
        finally:
            self._thread.close()
            self._thread = None

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL to give ``WebClient(base_url=...)`` / ``[slack] api_base_url``."""
        return f"{self.url}/api/"

    def response_url(self, name: str | None = None) -> str:
        return f"{self.url}/response/{name or next(_ids)}"

    # -- switches ----------------------------------------------------------------------------------------------------

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with HTTP 429 and ``Retry-After: retry_after``."""
        with self._lock:
            self._rate_limited.setdefault(method, []).extend([retry_after] * times)

    def fail(self, method: str, error: str = "internal_error", times: int = 1, status: int = 200) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``.

        ``method="upload"`` makes the upload URL refuse the next ``times`` uploads instead (HTTP ``status``, use
        e.g. 500, with ``error`` as the plain-text body), as files.slack.com does when it fails."""
        with self._lock:
            self._failures.setdefault(method, []).extend([(status, error)] * times)

    def on(self, method: str, handler: Handler) -> None:
        """Answer ``method`` with ``handler(params)`` instead of the built-in answer."""
        self.handlers[method] = handler

    # -- what was recorded -------------------------------------------------------------------------------------------

    def calls_to(self, method: str | None = None, *, ok_only: bool = True,
                 where: Callable[[Call], bool] | None = None) -> list[Call]:
        """Recorded calls of ``method`` (all when None); by default only those the fake answered with HTTP 200."""
        with self._lock:
            calls = list(self.calls)
        return [c for c in calls if (method is None or c.method == method) and (not ok_only or c.status == 200)
                and (where is None or where(c))]

    def responses(self, name: str | None = None) -> list[Call]:
        """What was posted to response URLs (all, or the one called ``name``)."""
        if name is not None:
            return self.calls_to(f"response:{name}")
        return [c for c in self.calls_to() if c.method.startswith("response:")]

    def wait_for(self, method: str, count: int = 1, timeout: float = DEFAULT_TIMEOUT,
                 where: Callable[[Call], bool] | None = None) -> list[Call]:
        """Wait until at least ``count`` matching calls were recorded; return them all."""
        return wait_until(lambda: (lambda found: found if len(found) >= count else None)(
            self.calls_to(method, where=where)), timeout, f"{count} call(s) of {method}", self.describe)

    def wait_for_response(self, name: str, count: int = 1, timeout: float = DEFAULT_TIMEOUT) -> list[Call]:
        return self.wait_for(f"response:{name}", count, timeout)

    def assert_quiet(self, method: str, seconds: float = 1.0, *, count: int = 0,
                     where: Callable[[Call], bool] | None = None) -> None:
        """Wait ``seconds`` and assert that no more than ``count`` matching calls were recorded."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = self.calls_to(method, where=where)
            assert len(found) <= count, f"expected at most {count} {method} call(s), got {found}\n{self.describe()}"
            time.sleep(POLL)

    def describe(self) -> str:
        with self._lock:
            calls = list(self.calls)
        return "recorded calls:\n" + ("\n".join(f"  {c!r}" for c in calls) or "  (none)")

    def files_in(self, channel: str | None = None, *, thread_ts: str | None = None) -> list[UploadedFile]:
        """The files shared so far (into ``channel``, in ``thread_ts`` when given)."""
        with self._lock:
            files = list(self.files)
        return [f for f in files if (channel is None or f.channel == channel)
                and (thread_ts is None or f.thread_ts == thread_ts)]

    def wait_for_files(self, count: int = 1, channel: str | None = None, *, thread_ts: str | None = None,
                       timeout: float = DEFAULT_TIMEOUT) -> list[UploadedFile]:
        """Wait until at least ``count`` files were shared (into ``channel``); return them all."""
        return wait_until(lambda: (lambda found: found if len(found) >= count else None)(
            self.files_in(channel, thread_ts=thread_ts)), timeout, f"{count} file(s) shared to {channel or 'anywhere'}",
            lambda: f"{self.describe()}\nfiles: {self.files_in()}")

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.files.clear()
            self.acks.clear()
            self.socket_messages.clear()

    # -- Web API -----------------------------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        body = await request.read()
        params = await _params(request, body)
        headers = dict(request.headers)
        call = Call(method, params, headers, body)
        with self._lock:
            pending = self._rate_limited.get(method)
            retry_after = pending.pop(0) if pending else None
            failures = self._failures.get(method)
            failure = failures.pop(0) if failures else None
            self.calls.append(call)
        if retry_after is not None:
            call.status = 429
            call.response = {"ok": False, "error": "ratelimited"}
            return web.json_response(call.response, status=429, headers={"Retry-After": str(retry_after)})
        token = _token(headers, params)
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if method not in ("api.test",):
            if not token:
                call.response = {"ok": False, "error": "not_authed"}
            elif token != expected:
                call.response = {"ok": False, "error": "invalid_auth"}
        if not call.response and failure is not None:
            call.status = failure[0]
            call.response = {"ok": False, "error": failure[1]}
        if not call.response:
            try:
                call.response = self._answer(method, params)
            except Exception as exc:  # a broken test handler must show, not hang the client
                call.response = {"ok": False, "error": f"fake_error: {exc!r}"}
        return web.json_response(call.response, status=call.status)

    def _answer(self, method: str, p: dict[str, Any]) -> dict[str, Any]:
        if method in self.handlers:
            return self.handlers[method](p)
        channel = str(p.get("channel") or "")
        if method == "auth.test":
            return dict(AUTH_TEST)
        if method == "api.test":
            return {"ok": True, "args": p}
        if method == "chat.postMessage":
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            if not p.get("text") and not p.get("blocks") and not p.get("attachments"):
                return {"ok": False, "error": "no_text"}
            ts = self._next_ts()
            message = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "ts": ts,
                       "text": p.get("text", ""), "blocks": p.get("blocks", []), "team": TEAM_ID}
            if p.get("metadata"):
                message["metadata"] = p["metadata"]
            if p.get("thread_ts"):
                message["thread_ts"] = p["thread_ts"]
            self.remember(channel, message)
            return {"ok": True, "channel": channel, "ts": ts, "message": message}
        if method == "chat.postEphemeral":
            if not channel or not p.get("user"):
                return {"ok": False, "error": "channel_not_found" if not channel else "user_not_in_channel"}
            return {"ok": True, "message_ts": self._next_ts()}
        if method == "chat.update":
            # Like Slack: only a message the fake knows (posted by the bot) can be updated, in place.
            message = self.message(channel, str(p.get("ts") or "")) if channel and p.get("ts") else None
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            with self._lock:
                message.update(text=p.get("text", ""), blocks=p.get("blocks", []),
                               edited={"user": BOT_USER_ID, "ts": self._next_ts()})
            return {"ok": True, "channel": channel, "ts": p["ts"], "text": p.get("text", ""),
                    "message": {"text": p.get("text", ""), "blocks": p.get("blocks", [])}}
        if method == "chat.delete":
            return {"ok": True, "channel": channel, "ts": p.get("ts")}
        if method == "chat.getPermalink":
            ts = str(p.get("message_ts") or "")
            return {"ok": True, "channel": channel,
                    "permalink": f"https://rrr-network.slack.com/archives/{channel}/p{ts.replace('.', '')}"}
        if method in ("views.open", "views.publish", "views.update", "views.push"):
            view = p.get("view")
            if not isinstance(view, dict):
                return {"ok": False, "error": "invalid_arguments"}
            if method in ("views.open", "views.push") and not p.get("trigger_id"):
                return {"ok": False, "error": "invalid_trigger_id"}
            if method == "views.publish" and not p.get("user_id"):
                return {"ok": False, "error": "invalid_arguments"}
            view_id = p.get("view_id") or f"V{next(_ids):08d}"
            return {"ok": True, "view": {**view, "id": view_id, "team_id": TEAM_ID, "app_id": APP_ID,
                                         "bot_id": BOT_ID, "state": {"values": {}}, "hash": f"{next(_ids)}.h"}}
        if method == "conversations.replies":
            ts = str(p.get("ts") or "")
            with self._lock:
                messages = list(self.threads.get((channel, ts)) or [])
            if not messages:
                return {"ok": False, "error": "thread_not_found"}
            if not _truthy(p.get("include_all_metadata")):
                messages = [{k: v for k, v in m.items() if k != "metadata"} for m in messages]
            limit = int(p.get("limit") or 1000)
            return {"ok": True, "messages": messages[:limit], "has_more": len(messages) > limit}
        if method == "conversations.history":
            return {"ok": True, "messages": [], "has_more": False}
        if method == "conversations.info":
            is_im = channel.startswith("D")
            return {"ok": True, "channel": {"id": channel, "name": channel.lower(), "is_im": is_im,
                                            "is_channel": not is_im, "is_member": True}}
        if method == "conversations.open":
            # Like Slack: 1 user id opens a DM, 2 to 8 a group DM (the bot joins on its own), more are refused.
            given = p.get("users") or ""
            listed = given if isinstance(given, list) else str(given).split(",")
            users = [str(u).strip() for u in listed if str(u).strip()]
            if not users:
                return {"ok": False, "error": "users_list_not_supplied"}
            if len(users) > MAX_CONVERSATION_USERS:
                return {"ok": False, "error": "too_many_users"}
            if len(users) == 1:
                return {"ok": True, "channel": {"id": "D" + users[0].lstrip("U")}}
            group = "G" + hashlib.sha1(",".join(users).encode()).hexdigest()[:10].upper()
            return {"ok": True, "channel": {"id": group, "is_mpim": True, "members": [BOT_USER_ID, *users]}}
        if method == "users.info":
            user = str(p.get("user") or "")
            if not user:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": self.users.get(user, _user_profile(user))}
        if method == "usergroups.users.list":
            group = str(p.get("usergroup") or "")
            if group not in self.usergroups:
                return {"ok": False, "error": "no_such_subteam"}
            return {"ok": True, "users": list(self.usergroups[group])}
        if method == "usergroups.list":
            return {"ok": True, "usergroups": [{"id": g, "team_id": TEAM_ID, "handle": g.lower(), "users": u}
                                               for g, u in self.usergroups.items()]}
        if method in ("reactions.add", "reactions.remove"):
            return {"ok": True}
        if method == "team.info":
            return {"ok": True, "team": {"id": TEAM_ID, "name": "RRR network", "domain": "rrr-network"}}
        if method == "bots.info":
            return {"ok": True, "bot": {"id": p.get("bot", BOT_ID), "app_id": APP_ID, "user_id": BOT_USER_ID}}
        if method == "files.getUploadURLExternal":
            filename, length = str(p.get("filename") or ""), str(p.get("length") or "")
            if not filename or not length.isdigit() or int(length) <= 0:
                return {"ok": False, "error": "invalid_arguments"}
            file_id = f"F{next(_ids):08d}"
            with self._lock:
                self.uploads[file_id] = {"filename": filename, "length": int(length),
                                         "alt_txt": str(p.get("alt_txt") or ""), "data": None}
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            return self._complete_upload(p)
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket=t{next(_ids)}&app_id={APP_ID}"}
        return {"ok": False, "error": "unknown_method"}

    def _complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        """Share the uploaded files (each must have reached its upload URL, with the announced length)."""
        wanted = p.get("files")
        if not isinstance(wanted, list) or not wanted:
            return {"ok": False, "error": "invalid_arguments"}
        channel = str(p.get("channel_id") or "") or None
        thread = str(p.get("thread_ts") or "") or None
        if thread and not channel:
            return {"ok": False, "error": "invalid_arguments"}
        shared: list[UploadedFile] = []
        with self._lock:
            for item in wanted:
                upload = self.uploads.get(str(item.get("id") or ""))
                if upload is None or upload["data"] is None:
                    return {"ok": False, "error": "file_not_found"}
                shared.append(UploadedFile(str(item["id"]), upload["filename"], str(item.get("title") or ""),
                                           upload["alt_txt"], upload["data"], channel, thread,
                                           p.get("initial_comment") or None))
            self.files.extend(shared)
        infos = [{"id": f.id, "name": f.filename, "title": f.title or f.filename, "mimetype": "image/png",
                  "filetype": "png", "size": f.size, "user": BOT_USER_ID, "alt_txt": f.alt_txt,
                  "channels": [channel] if channel else []} for f in shared]
        if channel:
            message = {"type": "message", "subtype": "file_share", "user": BOT_USER_ID, "bot_id": BOT_ID,
                       "ts": self._next_ts(), "text": p.get("initial_comment") or "", "files": infos,
                       "team": TEAM_ID}
            if thread:
                message["thread_ts"] = thread
            self.remember(channel, message)
        return {"ok": True, "files": infos}

    async def _upload(self, request: web.Request) -> web.Response:
        """The upload URL: takes the file's raw bytes, answers ``OK - <length>`` in plain text as Slack does."""
        body = await request.read()
        file_id = request.match_info["file_id"]
        call = Call("upload", {"file_id": file_id}, dict(request.headers), body)
        with self._lock:
            failures = self._failures.get("upload")
            failure = failures.pop(0) if failures else None
            upload = self.uploads.get(file_id)
            if upload is not None:
                call.params["filename"] = upload["filename"]
            self.calls.append(call)
            if failure is not None:
                call.status, call.response = (failure[0] if failure[0] != 200 else 500), {"error": failure[1]}
            elif upload is None:
                call.status, call.response = 404, {"error": "upload_not_found"}
            elif len(body) != upload["length"]:
                call.status, call.response = 400, {"error": f"length {len(body)} != {upload['length']}"}
            else:
                upload["data"] = body
                call.response = {"ok": True}
        if call.status != 200:
            return web.Response(status=call.status, text=str(call.response["error"]), content_type="text/plain")
        return web.Response(text=f"OK - {len(body)}", content_type="text/plain")

    def remember(self, channel: str, message: dict[str, Any]) -> None:
        """Keep a message for ``conversations.replies``: a thread is its root followed by its replies."""
        root = str(message.get("thread_ts") or message["ts"])
        with self._lock:
            self.threads.setdefault((channel, root), []).append(message)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """The message ``ts`` of ``channel`` as it stands now (after any ``chat.update``), or None."""
        with self._lock:
            for (where, _), messages in self.threads.items():
                if where == channel:
                    for message in messages:
                        if message.get("ts") == ts:
                            return message
        return None

    def _next_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    # -- response_url ------------------------------------------------------------------------------------------------

    async def _response(self, request: web.Request) -> web.Response:
        body = await request.read()
        params = await _params(request, body)
        call = Call(f"response:{request.match_info['name']}", params, dict(request.headers), body,
                    response={"ok": True})
        with self._lock:
            self.calls.append(call)
        return web.json_response({"ok": True})

    # -- Socket Mode -------------------------------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        with self._lock:
            self._sockets.append(ws)
            self.socket_connections += 1
        await ws.send_str(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "applink-fake", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }))
        try:
            async for message in ws:
                if message.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(message.data)
                except ValueError:
                    data = message.data
                with self._lock:
                    self.socket_messages.append(data)
                    if isinstance(data, dict) and "envelope_id" in data:
                        self.acks.append(data)
        finally:
            with self._lock:
                if ws in self._sockets:
                    self._sockets.remove(ws)
        return ws

    @property
    def open_sockets(self) -> int:
        """How many Socket Mode connections are open now."""
        with self._lock:
            return len(self._sockets)

    def wait_for_socket(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until a Socket Mode client is connected."""
        wait_until(lambda: self._sockets, timeout, "a Socket Mode connection", self.describe)

    def push(self, payload: Mapping[str, Any], *, type: str = "events_api", envelope_id: str | None = None,
             accepts_response_payload: bool = False, retry_attempt: int = 0, retry_reason: str = "") -> str:
        """Send an envelope to the connected Socket Mode client; return its envelope id."""
        envelope_id = envelope_id or f"env-{next(_ids)}"
        envelope: dict[str, Any] = {"envelope_id": envelope_id, "type": type, "payload": dict(payload),
                                    "accepts_response_payload": accepts_response_payload}
        if type == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        assert self._thread is not None, "the fake is not running"
        with self._lock:
            ws = self._sockets[-1] if self._sockets else None
        assert ws is not None, "no Socket Mode client is connected"
        self._thread.run(ws.send_str(json.dumps(envelope)))
        return envelope_id

    def wait_for_ack(self, envelope_id: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            with self._lock:
                return next((a for a in self.acks if a.get("envelope_id") == envelope_id), None)
        return wait_until(found, timeout, f"the ack of envelope {envelope_id}",
                          lambda: f"socket messages: {self.socket_messages}")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _user_profile(user: str) -> dict[str, Any]:
    name = f"user-{user.lower()}"
    return {"id": user, "team_id": TEAM_ID, "name": name, "real_name": name.title(), "deleted": False,
            "is_bot": False, "is_admin": False, "tz": "Europe/Madrid", "tz_offset": 3600, "locale": "en-US",
            "profile": {"display_name": name, "real_name": name.title(), "email": f"{name}@example.org"}}


async def _params(request: web.Request, body: bytes) -> dict[str, Any]:
    """Query string, then form or JSON body, merged; JSON strings of form-posted blocks/views decoded."""
    params: dict[str, Any] = dict(request.query)
    content_type = request.content_type
    if body:
        if content_type == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                data = {}
            if isinstance(data, dict):
                params.update(data)
        elif content_type in ("application/x-www-form-urlencoded", ""):
            params.update(dict(urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True)))
        elif content_type.startswith("multipart/"):
            params.update(_multipart(request.headers.get("Content-Type", ""), body))
    for key in JSON_PARAMS:
        value = params.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                params[key] = json.loads(value)
            except ValueError:
                pass
    return params


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """Parse a multipart form (rare for the methods faked here)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    out: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            payload = part.get_payload(decode=True) or b""
            out[str(name)] = payload.decode("utf-8", "replace")
    return out


def _token(headers: Mapping[str, str], params: Mapping[str, Any]) -> str:
    auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return str(params.get("token") or "")


# -- a client that posts to the app as Slack does --------------------------------------------------------------------

@dataclass
class Sent:
    """The app's answer to one request: status, headers, body and how long it took."""

    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


#: Loopback only: never send the app's requests through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))
PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


class SlackSender:
    """Posts signed requests to the app under test (``http://127.0.0.1:PORT/slack/events``), like Slack."""

    def __init__(self, url: str, secret: str = SIGNING_SECRET) -> None:
        self.url = url
        self.secret = secret

    def post(self, body: bytes, content_type: str, *, timestamp: int | None = None, secret: str | None = None,
             headers: Mapping[str, str] | None = None, signed: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Sent:
        all_headers = {"Content-Type": content_type, "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}
        if signed:
            all_headers.update(sign(body, secret or self.secret, timestamp))
        all_headers.update(headers or {})
        request = urllib.request.Request(self.url, data=body, headers=all_headers, method="POST")
        started = time.monotonic()
        try:
            with _DIRECT.open(request, timeout=timeout) as response:
                return Sent(response.status, dict(response.headers), response.read(), time.monotonic() - started)
        except urllib.error.HTTPError as exc:
            return Sent(exc.code, dict(exc.headers), exc.read(), time.monotonic() - started)

    def event(self, payload: Mapping[str, Any], **kw: Any) -> Sent:
        """Post an Events API payload (JSON)."""
        return self.post(json.dumps(payload).encode(), "application/json", **kw)

    def command(self, fields: Mapping[str, str], **kw: Any) -> Sent:
        """Post a slash command (form-encoded)."""
        return self.post(urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded", **kw)

    def interactive(self, payload: Mapping[str, Any], **kw: Any) -> Sent:
        """Post an interactivity payload (``payload=<json>``, form-encoded)."""
        body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
        return self.post(body, "application/x-www-form-urlencoded", **kw)
