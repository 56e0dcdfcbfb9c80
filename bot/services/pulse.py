"""The weekly network pulse for coordinators: new solutions, unanswered questions, the next sessions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from ..messages import Reply, Text, Time
from ..store.models import Question, Solution
from .knowledge_base import KnowledgeBase
from .outbox import Outgoing
from ..sessions.service import Sessions

WEEK = timedelta(days=7)


def pulse_reply(sessions: Sessions, knowledge: KnowledgeBase, now: datetime) -> Reply:
    """What happened in the network in the last seven days, and what comes in the next seven."""
    since = now - WEEK
    with knowledge.db.session() as session:
        solutions = list(session.exec(select(Solution).where(Solution.created_at >= since)
                                      .order_by(col(Solution.created_at).desc())))
        unanswered = list(session.exec(select(Question).where(Question.asked_at >= since,
                                                              Question.answered == False)  # noqa: E712
                                       .order_by(col(Question.asked_at).desc())))
        asked = session.exec(select(func.count()).select_from(Question).where(Question.asked_at >= since)).one()
    blocks: list = [Text("Network pulse: the last seven days", "heading")]
    if solutions:
        lines = [f"- {s.title} ({s.city})" for s in solutions[:5]]
        more = [f"...and {len(solutions) - 5} more"] if len(solutions) > 5 else []
        blocks.append(Text(f"{len(solutions)} new solution(s):\n" + "\n".join(lines + more)))
    else:
        blocks.append(Text("No new solution this week."))
    if unanswered:
        lines = [f"- #{q.id} {q.text[:120]}" for q in unanswered[:5]]
        blocks.append(Text(f"{len(unanswered)} question(s) found no answer:\n" + "\n".join(lines)
                           + "\n`unanswered` lists them; a peer's reply can be saved as a solution."))
    elif asked:
        blocks.append(Text(f"Every question found an answer ({asked} asked)."))
    else:
        blocks.append(Text("No question was asked this week."))
    upcoming = []
    for info in sessions.list():
        for occ in info.schedule.between(now, now + WEEK):
            upcoming.append((occ.start_utc, info.title))
    if upcoming:
        blocks.append(Text("Sessions in the next seven days:"))
        blocks += [Time(start, f"{title}:") for start, title in sorted(upcoming)[:10]]
    else:
        blocks.append(Text("No session in the next seven days.", "muted"))
    return Reply(tuple(blocks))


def queue_pulse(sessions: Sessions, knowledge: KnowledgeBase, channels: Mapping[str, str], now: datetime) -> int:
    """Queue this week's pulse once per ISO week to each configured channel; returns the messages queued."""
    year, week, _ = now.isocalendar()
    reply = pulse_reply(sessions, knowledge, now)
    messages = [Outgoing(f"pulse:{year}-W{week:02d}:{platform}", platform, reply, channel=channel)
                for platform, channel in sorted(channels.items())]
    return sessions.outbox.enqueue(messages, claim=f"pulse:{year}-W{week:02d}", now=now)
