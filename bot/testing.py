"""A collecting adapter for tests: drive conversations with the core without any platform.

>>> adapter = TestAdapter(bot)
>>> (await adapter.send("help")).assert_reply("ask QUESTION")
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .core import Bot
from .messages import Action, Incoming, Reply
from .platforms import Capabilities, Platform


@dataclass
class Exchange:
    """The replies to one message, with assertions that say what was expected and what came."""

    replies: list[Reply]

    @property
    def text(self) -> str:
        return "\n".join(r.as_text() for r in self.replies)

    def assert_reply(self, *fragments: str) -> Exchange:
        for fragment in fragments:
            assert fragment in self.text, f"expected {fragment!r} in reply:\n{self.text}"
        return self

    def assert_no_reply(self, *fragments: str) -> Exchange:
        for fragment in fragments:
            assert fragment not in self.text, f"did not expect {fragment!r} in reply:\n{self.text}"
        return self

    def assert_error(self) -> Exchange:
        assert any(r.is_error for r in self.replies), f"expected an error reply, got:\n{self.text}"
        return self

    def blocks(self, kind: type) -> list:
        return [b for r in self.replies for b in r.blocks if isinstance(b, kind)]


@dataclass
class TestAdapter:
    """Sends messages as one user on a pretend platform and keeps every exchange. With ``capabilities`` it
    registers its platform as an adapter does (:meth:`Bot.register_platform`), so the core treats it accordingly."""

    __test__ = False  # not a pytest test class

    bot: Bot
    platform: str = "test"
    user: str = "U1"
    user_name: str = "Tester"
    history: list[Exchange] = field(default_factory=list)
    capabilities: Capabilities | None = None

    def __post_init__(self) -> None:
        if self.capabilities is not None:
            self.bot.register_platform(Platform(self.platform, self.capabilities))

    async def send(self, text: str, *, user: str | None = None, is_direct: bool = True) -> Exchange:
        message = Incoming(platform=self.platform, user=user or self.user, text=text, channel="C1",
                           is_direct=is_direct, user_name=self.user_name)
        exchange = Exchange(await self.bot.handle(message))
        self.history.append(exchange)
        return exchange

    async def click(self, action_id: str, value: str = "", *, user: str | None = None,
                    **fields: str) -> Exchange:
        action = Action(platform=self.platform, user=user or self.user, action_id=action_id, value=value,
                        fields=tuple(fields.items()), user_name=self.user_name)
        exchange = Exchange(await self.bot.handle_action(action))
        self.history.append(exchange)
        return exchange
