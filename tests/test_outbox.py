"""The one way to queue proactive messages (`StoredOutbox.enqueue`): once per key, keys cut to the column, claims
taken in the same transaction."""

from __future__ import annotations

from bot import Runtime
from bot.messages import Reply
from bot.services import Outgoing
from bot.services.outbox import KEY_LENGTH, key_of
from bot.store.models import OutboxMessage
from sqlmodel import select


def keys(rt: Runtime) -> list[str]:
    with rt.db.session() as session:
        return sorted(session.exec(select(OutboxMessage.key)).all())


def test_a_key_longer_than_the_column_is_cut_once_and_found_again(runtime: Runtime) -> None:
    long_key = "reminder:" + "x" * (KEY_LENGTH + 50)
    hello = Reply.text("hello")
    queued = runtime.outbox.enqueue([Outgoing(long_key, "slack", hello, channel="C1"),
                                     Outgoing(long_key + ":other-tail", "slack", hello, channel="C2")])
    assert queued == 1  # both keys cut to the same stored key: the second is the same message
    assert keys(runtime) == [long_key[:KEY_LENGTH]] == [key_of(long_key)]
    assert runtime.outbox.taken([long_key, "never-queued"]) == {long_key}
    assert runtime.outbox.enqueue([Outgoing(long_key, "slack", hello, channel="C1")]) == 0


def test_a_claim_queues_its_messages_once_and_takes_the_superseded_keys(runtime: Runtime) -> None:
    hello = Reply.text("hello")
    first = runtime.outbox.enqueue([Outgoing("r:1:15:u1", "slack", hello, users=("U1",)),
                                    Outgoing("r:1:15:u2", "slack", hello, users=("U2",))],
                                   claim="r:1:15", also_claim=["r:1:1440"])
    again = runtime.outbox.enqueue([Outgoing("r:1:15:u3", "slack", hello, users=("U3",))], claim="r:1:15")
    superseded = runtime.outbox.enqueue([Outgoing("r:1:1440:u1", "slack", hello, users=("U1",))],
                                        claim="r:1:1440")
    assert (first, again, superseded) == (2, 0, 0)
    assert keys(runtime) == ["r:1:1440", "r:1:15", "r:1:15:u1", "r:1:15:u2"]
    assert runtime.outbox.pending("slack") == 2  # claims are never delivered
