"""The harness of the Slack adapter tests: the adapter's real Bolt app served over HTTP on 127.0.0.1 (aiohttp
``AppRunner``) in front of the local fake Slack (``slack_fake.FakeSlack``), requests signed as Slack signs them, and
Block Kit's limits checked on everything the adapter sends.

Fixtures, to import into a test module by name together with the fixtures they use: ``fake_slack`` (the fake, with
no proxy in the way; ``fake`` for short) and ``serve_slack`` (``serve_slack(settings, cls)`` serves the adapter on a
new runtime; all is stopped after the test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from adapters.slack import SlackSecrets
from bot import Runtime, Settings
from conftest import make_settings
from slack_fake import (
    APP_TOKEN, BOT_TOKEN, BOT_USER_ID, PROXY_ENV, SIGNING_SECRET, Call, FakeSlack, LoopThread, SlackSender,
    app_mention, block_action, event_callback, next_ts, slash_command,
)

SECRETS = SlackSecrets(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN)
ANSWER_WAIT = 10.0  # an answer includes a real search; acks are held to Slack's 3 s separately
ACK_BUDGET = 3.0
#: Tests that wait for an answer's message see the answer itself: the placeholder of a slow answer (first posted,
#: then replaced) is off unless a test turns it on (tests/test_placeholders.py).
NO_PLACEHOLDER = "600"
#: The blocks the adapter may send (the others are Slack's, but ours never need them).
BLOCK_KINDS = ("section", "header", "context", "actions", "input", "divider", "image")


# -- the adapter, served ---------------------------------------------------------------------------------------------

@dataclass
class ServedSlack:
    """The adapter's Bolt app served on 127.0.0.1, the fake Slack it talks to, and the runtime behind it."""

    fake: FakeSlack
    runtime: Runtime
    adapter: Any
    loop: LoopThread
    sender: SlackSender

    def mention(self, text: str, **kw: Any) -> tuple[dict, Any]:
        """@mention the bot in a channel; return the event and the app's HTTP answer."""
        event = app_mention(f"<@{BOT_USER_ID}> {text}", **kw)
        return event, self.sender.event(event_callback(event))

    def command(self, text: str, name: str | None = None, **kw: Any) -> tuple[str, Any]:
        """``/rrr text``; return the response_url name and the app's HTTP answer."""
        name = name or f"cmd{next_ts().replace('.', '')}"
        return name, self.sender.command(slash_command(text, response_url=self.fake.response_url(name), **kw))

    def click(self, action_id: str, value: str, name: str | None = None, **kw: Any) -> tuple[str, Any]:
        """Click a button; return the response_url name and the app's HTTP answer."""
        name = name or f"click{next_ts().replace('.', '')}"
        payload = block_action(action_id, value, response_url=self.fake.response_url(name), **kw)
        return name, self.sender.interactive(payload)

    def posts(self, channel: str | None = None, count: int = 1, timeout: float = ANSWER_WAIT,
              method: str = "chat.postMessage") -> list[Call]:
        """Wait for ``count`` messages (to ``channel``); each is checked against Block Kit's limits."""
        calls = self.fake.wait_for(method, count, timeout,
                                   where=lambda c: channel is None or c.params.get("channel") == channel)
        for call in calls:
            assert_block_kit(call.blocks, f"{method} to {call.params.get('channel')}")
            assert len(str(call.params.get("text") or "")) <= 40000, "Slack truncates message text at 40,000"
        return calls


Served = TypeVar("Served", bound=ServedSlack)


def slack_settings(data_dir: Path, fake: FakeSlack, **env: str) -> Settings:
    """Settings pointing the adapter at ``fake``, with the fake's coordinator user group S0COORD (it holds UCOORD);
    ``env`` adds settings. The outbox pump first runs after an hour unless ``env`` says otherwise, so tests that
    deliver by hand are deterministic. Placeholders are off (:data:`NO_PLACEHOLDER`) unless ``env`` sets them."""
    env.setdefault("RRR_BOT__OUTBOX_INTERVAL", "3600")
    env.setdefault("RRR_BOT__PLACEHOLDER_SECONDS", NO_PLACEHOLDER)
    return make_settings(data_dir, RRR_SLACK__API_BASE_URL=fake.api_url, RRR_SLACK__COORDINATOR_GROUPS='["S0COORD"]',
                         **env)


@pytest.fixture
def fake_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    for name in PROXY_ENV:  # slack_sdk's Socket Mode client would send even 127.0.0.1 through a proxy
        monkeypatch.delenv(name, raising=False)
    with FakeSlack() as server:
        yield server


@pytest.fixture
def fake(fake_slack: FakeSlack) -> FakeSlack:
    """``fake_slack``, by the short name the tests of one platform use."""
    return fake_slack


@pytest.fixture
def serve_slack(fake_slack: FakeSlack) -> Iterator[Callable[..., Any]]:
    """``serve_slack(settings, cls=ServedSlack, warm_up=False)``: open a runtime on ``settings`` and serve its
    adapter over HTTP; ``warm_up`` loads the model and index now, not inside the first request."""
    from adapters.slack import SlackAdapter

    started: list[tuple[LoopThread, Runtime, web.AppRunner]] = []

    def serve(settings: Settings, cls: type[Served] = ServedSlack, *, warm_up: bool = False) -> Served:
        runtime = Runtime.open(settings)
        if warm_up:
            runtime.knowledge.warm_up()
        loop = LoopThread("slack-app")

        async def start() -> tuple[Any, web.AppRunner, int]:
            adapter = SlackAdapter(runtime.bot, settings, SECRETS)
            runner = web.AppRunner(adapter.web_app(), handle_signals=False, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            return adapter, runner, site._server.sockets[0].getsockname()[1]

        adapter, runner, port = loop.run(start(), timeout=30)
        started.append((loop, runtime, runner))
        return cls(fake_slack, runtime, adapter, loop, SlackSender(f"http://127.0.0.1:{port}/slack/events"))

    yield serve
    for loop, runtime, runner in started:
        try:
            loop.run(runner.cleanup())
        finally:
            loop.close()
            runtime.close()


# -- Block Kit, as Slack checks it -----------------------------------------------------------------------------------

def _text_len(obj: Any) -> int:
    return len(obj.get("text", "")) if isinstance(obj, dict) else 0


def assert_block_kit(blocks: list[dict], where: str = "message", max_blocks: int = 50) -> None:
    """Slack's documented limits for the blocks the adapter sends (a payload over them is rejected)."""
    assert isinstance(blocks, list), f"{where}: blocks must be a list"
    assert len(blocks) <= max_blocks, f"{where}: {len(blocks)} blocks > {max_blocks}"
    for block in blocks:
        kind = block.get("type")
        assert kind in BLOCK_KINDS, f"{where}: unexpected block {kind}"
        assert len(block.get("block_id", "")) <= 255, f"{where}: block_id too long"
        if kind == "section":
            assert "text" in block or "fields" in block, f"{where}: section without text or fields: {block}"
            if "text" in block:
                assert 1 <= _text_len(block["text"]) <= 3000, f"{where}: section text {_text_len(block['text'])}"
            fields = block.get("fields", [])
            assert len(fields) <= 10, f"{where}: {len(fields)} fields > 10"
            for f in fields:
                assert 1 <= _text_len(f) <= 2000, f"{where}: field text {_text_len(f)}"
        elif kind == "header":
            assert block["text"]["type"] == "plain_text" and 1 <= _text_len(block["text"]) <= 150, \
                f"{where}: header text {_text_len(block['text'])}"
        elif kind == "context":
            assert 1 <= len(block["elements"]) <= 10, f"{where}: context with {len(block['elements'])} elements"
            for e in block["elements"]:
                if e.get("type") in ("mrkdwn", "plain_text"):
                    assert 1 <= _text_len(e) <= 3000, f"{where}: context text {_text_len(e)}"
        elif kind == "actions":
            assert 1 <= len(block["elements"]) <= 25, f"{where}: {len(block['elements'])} action elements"
            ids = [e.get("action_id") for e in block["elements"]]
            assert len(ids) == len(set(ids)), f"{where}: action ids must be unique in a block: {ids}"
            for e in block["elements"]:
                assert 1 <= _text_len(e["text"]) <= 75, f"{where}: button text {_text_len(e['text'])}"
                assert "value" not in e or 1 <= len(e["value"]) <= 2000, f"{where}: button value {e}"
                assert len(e.get("action_id", "")) <= 255, f"{where}: action_id too long"
                assert len(e.get("url", "")) <= 3000, f"{where}: button url"
        elif kind == "input":
            assert 1 <= _text_len(block["label"]) <= 2000, f"{where}: input label"
            element = block["element"]
            assert element.get("action_id"), f"{where}: input without action_id"
            if element.get("type") == "plain_text_input":
                limit = min(element.get("max_length", 3000), 3000)
                initial = element.get("initial_value") or ""
                assert len(initial) <= limit, f"{where}: initial value of {element['action_id']} is " \
                                              f"{len(initial)} > max_length {limit}"


def assert_modal(view: dict) -> None:
    assert view.get("type") == "modal", view
    for key in ("title", "submit", "close"):
        if view.get(key):
            assert 1 <= _text_len(view[key]) <= 24, f"modal {key} longer than 24 characters: {view[key]}"
    assert len(view.get("private_metadata", "")) <= 3000, "private_metadata > 3000"
    assert len(view.get("callback_id", "")) <= 255
    assert_block_kit(view.get("blocks", []), f"modal {view.get('callback_id')}", max_blocks=100)


def no_traceback(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    """Nothing was logged with a traceback, and no answer in ``texts`` shows one (or the core's error reply)."""
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
    for text in texts:
        assert "Traceback" not in text and "something went wrong" not in text, text
