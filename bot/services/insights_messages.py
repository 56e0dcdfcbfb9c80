"""The insights in chat: the coordinators' summary with its charts, a member's view of their own city, and the
weekly digest the scheduler queues for the coordinators' channels.

Blocking (database, embedding, drawing): call from a worker thread. No user id or member name is ever shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType

from knowledge.text import shorten, slugify

from ..messages import Facts, Field, Image, Reply, Text
from ..store.models import utcnow
from ..text import neutralize_mentions
from .insights import CoverageGaps, Figures, Insights, InsightsReport
from .insights_charts import charts, weekly_png
from .outbox import Outgoing, StoredOutbox

DEFAULT_WEEKS = 12
DIGEST_WEEKS = 4
CHAT_GAPS = 5
CITY_LINES = 12
ALT = MappingProxyType({"network.png": "Map of the network's cities, linked by shared challenges and introductions",
                       "weekly.png": "Bar chart of questions asked, answered and rated helpful per week",
                       "gaps.png": "Bar chart of the biggest groups of unanswered or not helpful questions"})


def coordinator_insights(insights: Insights, weeks: int = DEFAULT_WEEKS, now: datetime | None = None, *,
                         heading: str = "Network insights") -> Reply:
    """The network-wide summary with the three charts."""
    report = insights.report(weeks, now, gap_limit=CHAT_GAPS)
    return coordinator_reply(report, charts(report), heading=heading)


def coordinator_reply(report: InsightsReport, pictures: Mapping[str, bytes], *,
                      heading: str = "Network insights") -> Reply:
    f, gaps = report.figures, report.gaps
    blocks: list = [Text(f"{heading}, {f.period}", "heading")]
    if f.is_empty:
        blocks.append(Text(f"No activity in the network yet: no question, rating, saved solution, introduction or "
                           f"RSVP in these {len(f.weeks)} weeks. The charts below are empty for now."))
    else:
        blocks.append(_totals(f, "The whole network"))
        blocks.append(Text(_this_week(f)))
        active = [c for c in f.cities if not c.activity.is_empty]
        if active:
            lines = [f"- {c.city}: {c.activity.questions} asked, {c.activity.answered} answered, "
                     f"{c.activity.introductions} introduction(s), {c.activity.rsvp_going} going"
                     for c in active[:CITY_LINES]]
            more = [f"...and {len(active) - CITY_LINES} more"] if len(active) > CITY_LINES else []
            blocks.append(Text("Cities:\n" + "\n".join(lines + more)))
    blocks.append(Text(_gap_lines(gaps, f.totals.questions)))
    blocks.append(Text("Attendance counts RSVP going: the bot records no check-in. "
                       "`rrr-bot insights report --out DIR` writes the full report with CSV files.", "muted"))
    blocks += [Image(name, data, ALT.get(name, "")) for name, data in pictures.items()]
    return Reply(tuple(blocks))


def member_insights(insights: Insights, city: str, weeks: int = DEFAULT_WEEKS, now: datetime | None = None) -> Reply:
    """Only ``city``'s figures, with its weekly chart."""
    figures = insights.figures(weeks, now, city=city)
    return member_reply(figures, weekly_png(figures))


def member_reply(figures: Figures, picture: bytes | None = None) -> Reply:
    city = figures.city or "your city"
    blocks: list = [Text(f"Insights for {city}, {figures.period}", "heading")]
    if figures.is_empty:
        blocks.append(Text(f"Nothing from {city} in these {len(figures.weeks)} weeks yet: questions, ratings, "
                           "introductions and RSVPs of its members will show here."))
    else:
        blocks.append(_totals(figures, "Totals"))
        busy = [w for w in figures.weeks if not w.activity.is_empty]
        lines = [f"- {w.week}: {w.activity.questions} asked, {w.activity.answered} answered, "
                 f"{w.activity.helpful} helpful, {w.activity.introductions} introduction(s), "
                 f"{w.activity.rsvp_going} going" for w in busy[-8:]]
        blocks.append(Text("Weeks with activity:\n" + "\n".join(lines)))
    blocks.append(Text(f"Only {city}'s figures are shown; coordinators see the whole network. Attendance counts "
                       "RSVP going (no check-in is recorded).", "muted"))
    if picture is not None:
        blocks.append(Image(f"weekly-{slugify(city) or 'city'}.png", picture, ALT["weekly.png"]))
    return Reply(tuple(blocks))


def queue_digest(insights: Insights, outbox: StoredOutbox, channels: Mapping[str, str], now: datetime | None = None,
                 *, weeks: int = DIGEST_WEEKS) -> int:
    """Queue the coordinators' digest (summary and charts) once per ISO week and platform to ``channels``
    (``{platform: channel}``); returns the messages queued (0 when this week's were queued before)."""
    now = now or utcnow()
    year, week, _ = now.isocalendar()
    claims = {platform: f"insights-digest:{year}-W{week:02d}:{platform}" for platform in sorted(channels)}
    taken = outbox.taken(list(claims.values()))
    free = [p for p in claims if claims[p] not in taken]
    if not free:
        return 0  # every platform had it: do not compute the report again
    reply = coordinator_insights(insights, weeks, now, heading="Weekly insights digest")
    return sum(outbox.enqueue([Outgoing(claims[p] + ":message", p, reply, channel=channels[p])], claim=claims[p],
                              now=now) for p in free)


def _totals(f: Figures, title: str) -> Facts:
    t = f.totals
    answered = f"{t.answered} ({t.answered_share:.0%})" if t.answered_share is not None else "0"
    met = f"{t.introductions} made, {t.introductions_met} met" + (
        f" ({t.met_share:.0%})" if t.met_share is not None else "")
    return Facts((Field("Questions asked", str(t.questions)),
                  Field("Answered above the threshold", answered),
                  Field("Rated helpful / not helpful", f"{t.helpful} / {t.not_helpful}"),
                  Field("Solutions saved by peers", str(t.solutions_saved)),
                  Field("Introductions", met),
                  Field("Session RSVPs", f"{t.rsvp_going} going, {t.rsvp_maybe} maybe, {t.rsvp_no} can't")),
                 title=title)


def _this_week(f: Figures) -> str:
    this = f.weeks[-1]
    text = f"This week ({this.week}): {this.activity.questions} question(s), {this.activity.answered} answered"
    if len(f.weeks) > 1:
        last = f.weeks[-2]
        text += f"; last week: {last.activity.questions}, {last.activity.answered} answered"
    return text + "."


def _gap_lines(gaps: CoverageGaps, asked: int) -> str:
    if not gaps.clusters and not asked:
        return "Coverage gaps: none to show, no question asked yet."
    if not gaps.clusters:
        return "Coverage gaps: none; every question found an answer and none was rated not helpful."
    lines = []
    for rank, c in enumerate(gaps.clusters, start=1):
        line = (f"{rank}. {neutralize_mentions(shorten(c.label, 120))} - {c.size} question(s) from "
                f"{', '.join(city for city, _ in c.cities)}")
        if c.closest:
            best = c.closest[0]
            line += f"; nearest solution: {neutralize_mentions(best.title)} ({best.city}, {best.score:.2f})"
        lines.append(line)
    more = f" (the {len(gaps.clusters)} biggest)" if gaps.groups > len(gaps.clusters) else ""
    return (f"Coverage gaps: {gaps.questions} question(s) unanswered or rated not helpful, in {gaps.groups} group(s) "
            f"of the same meaning{more}:\n" + "\n".join(lines))
