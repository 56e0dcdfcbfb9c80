"""The files of ``rrr-bot insights report``: ``report.md``, one CSV per table and the pictures, built in memory.

Nothing here writes to disk (the command line writes the files, atomically). Who asked, rated or answered is never
in a file: questions appear by text, city and date only.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta

from knowledge.text import shorten

from .insights import ACTIVITY_FIELDS, Activity, InsightsReport

MD_GAPS = 30
MD_GAP_QUESTIONS = 10
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
PICTURES = (("weekly.png", "Weekly activity"), ("gaps.png", "Coverage gaps"), ("network.png", "Network map"))
ACTIVITY_COLUMNS = ("questions", "answered", "answered_share", "helpful", "not_helpful", "solutions_saved",
                    "introductions", "introductions_met", "met_share", "rsvp_going", "rsvp_maybe", "rsvp_no")


def report_files(report: InsightsReport, pictures: Mapping[str, bytes]) -> dict[str, bytes]:
    """``{file name: content}``: the pictures, every table as CSV, and ``report.md`` linking them all."""
    tables = csv_tables(report)
    files: dict[str, bytes] = {name: _csv(header, rows) for name, (header, rows) in tables.items()}
    files.update(pictures)
    files["report.md"] = markdown(report, pictures, list(tables)).encode("utf-8")
    return files


def csv_tables(report: InsightsReport) -> dict[str, tuple[Sequence[str], list[Sequence[object]]]]:
    """Every table of the report: ``{file name: (header, rows)}``."""
    f, gaps = report.figures, report.gaps
    tables: dict[str, tuple[Sequence[str], list[Sequence[object]]]] = {
        "weekly.csv": (("week", "start", *ACTIVITY_COLUMNS),
                       [(w.week, w.start.isoformat(), *_activity_cells(w.activity)) for w in f.weeks]),
        "cities.csv": (("city", "peer_group", *ACTIVITY_COLUMNS),
                       [(c.city, c.peer_group, *_activity_cells(c.activity)) for c in f.cities]),
        "gaps.csv": (("rank", "label", "questions", "cities", "closest_solutions", "what_was_missing"),
                     [(rank, _text(c.label), c.size, "; ".join(f"{city} ({n})" for city, n in c.cities),
                       "; ".join(f"{s.title} [{s.id}] ({s.city}, {s.score:.3f})" for s in c.closest),
                       _text(" / ".join(c.reasons)))
                      for rank, c in enumerate(gaps.clusters, start=1)]),
        "gap_questions.csv": (("rank", "question_id", "asked_at", "city", "unanswered", "not_helpful", "text",
                               "what_was_missing"),
                              [(rank, q.id, q.asked_at.isoformat(), q.city, int(q.unanswered), int(q.not_helpful),
                                _text(q.text), _text(" / ".join(q.reasons)))
                               for rank, c in enumerate(gaps.clusters, start=1) for q in c.questions]),
        "introductions.csv": (("id", "created_at", "week", "cities", "members", "met", "not_yet", "could_not",
                               "no_answer", "did_meet"),
                              [(i.id, i.created_at.isoformat(), i.week, "; ".join(i.cities), i.members, i.met,
                                i.not_yet, i.could_not, i.no_answer, int(i.did_meet)) for i in f.introductions]),
        "sessions.csv": (("session_id", "title", "occurrence", "week", "going", "maybe", "no", "cancelled"),
                         [(s.session_id, _text(s.title), s.occurrence.isoformat(), s.week, s.going, s.maybe, s.no,
                           int(s.cancelled)) for s in f.sessions]),
        "network.csv": (("city_a", "city_b", "similarity", "introduced"),
                        [(link.a, link.b, "" if link.similarity is None else f"{link.similarity:.4f}",
                          int(link.introduced)) for link in report.network.links]),
    }
    return tables


def markdown(report: InsightsReport, pictures: Mapping[str, bytes], tables: Iterable[str] = ()) -> str:
    """``report.md``: the summary, the tables, the gap list, and the pictures as relative links."""
    f, gaps = report.figures, report.gaps
    t = f.totals
    lines = [f"# Network insights, {f.period}", "",
             f"Generated {f.generated_at:%Y-%m-%d %H:%M} UTC for the {len(f.weeks)} ISO weeks from "
             f"{f.since:%Y-%m-%d} to {f.until - timedelta(days=1):%Y-%m-%d} (Monday to Sunday, UTC). "
             "Who asked, rated or answered is never shown: questions appear by text, city and date only.", "",
             "## Summary", ""]
    if f.is_empty:
        lines += ["No activity in the network yet: no question, rating, saved solution, introduction or RSVP in "
                  "these weeks. The tables and charts below are empty.", ""]
    lines += [f"- Questions asked: {t.questions}; answered above the confidence threshold: {t.answered}"
              f" ({_share(t.answered_share)})",
              f"- Ratings: {t.helpful} helpful, {t.not_helpful} not helpful (a person's latest rating of a question)",
              f"- Solutions saved from conversations (provenance `network`): {t.solutions_saved}",
              f"- Introductions made: {t.introductions}; where members met: {t.introductions_met}"
              f" ({_share(t.met_share)})",
              f"- Session RSVPs given: {t.rsvp_going} going, {t.rsvp_maybe} maybe, {t.rsvp_no} can't. "
              "Attendance means RSVP *going*: the bot records no check-in of who actually came.",
              f"- Coverage gaps: {gaps.questions} question(s) unanswered or rated not helpful, in "
              f"{gaps.groups} group(s) of the same meaning", ""]
    for name, title in PICTURES[:1]:
        if name in pictures:
            lines += [f"![{title}]({name})", ""]
    lines += ["## Weekly figures", "", _md_table(("week", "asked", "answered", "helpful", "not helpful", "saved",
                                                   "introductions", "met", "going", "maybe", "can't"),
                                                  [(w.week, *_short(w.activity)) for w in f.weeks]), ""]
    lines += ["## Cities", "",
              "A question counts for the city its asker was linked to when asking, an RSVP for its member's city, "
              "a saved solution for the city it is about; `unknown` means no linked city. An introduction counts "
              "for each of its cities.", "",
              _md_table(("city", "peer group", "asked", "answered", "helpful", "not helpful", "saved",
                         "introductions", "met", "going", "maybe", "can't"),
                        [(c.city, c.peer_group, *_short(c.activity)) for c in f.cities]) if f.cities
              else "No cities yet: load them with `rrr-bot kb seed` or `rrr-bot cities import FILE`.", ""]
    lines += ["## Coverage gaps", ""]
    if "gaps.png" in pictures:
        lines += ["![Coverage gaps](gaps.png)", ""]
    if not gaps.clusters and not t.questions:
        lines += ["No gap to show: no question asked yet in these weeks.", ""]
    elif not gaps.clusters:
        lines += ["No gap: every question of these weeks found an answer above the threshold, and none was rated "
                  "not helpful.", ""]
    else:
        lines += [f"{gaps.questions} question(s) without an answer above the threshold or rated not helpful, grouped "
                  "by meaning (in any language), biggest group first. Each group is named after its most central "
                  "question. Closest solutions are the existing ones nearest to it.", ""]
        if gaps.left_out:
            lines += [f"The {gaps.left_out} oldest gap question(s) were left out of the grouping.", ""]
        for rank, cluster in enumerate(gaps.clusters[:MD_GAPS], start=1):
            cities = ", ".join(f"{_md(c)} ({n})" for c, n in cluster.cities)
            lines.append(f"{rank}. **{_md(cluster.label)}**: {cluster.size} question(s); cities: {cities}")
            for q in cluster.questions[:MD_GAP_QUESTIONS]:
                why = "unanswered" if q.unanswered else "rated not helpful"
                if q.unanswered and q.not_helpful:
                    why = "unanswered, rated not helpful"
                lines.append(f"   - {_md(shorten(q.text, 200))} ({_md(q.city)}, {q.asked_at:%Y-%m-%d}, {why})")
            if cluster.size > MD_GAP_QUESTIONS:
                lines.append(f"   - ...and {cluster.size - MD_GAP_QUESTIONS} more (gap_questions.csv)")
            if cluster.closest:
                nearest = "; ".join(f"{_md(s.title)} ({_md(s.city)}, score {s.score:.2f})" for s in cluster.closest)
                lines.append(f"   - Closest solutions: {nearest}")
            if cluster.reasons:
                lines.append(f"   - What was missing: {_md(shorten(' / '.join(cluster.reasons), 300))}")
        if len(gaps.clusters) > MD_GAPS:
            lines.append(f"\n...and {len(gaps.clusters) - MD_GAPS} smaller group(s) in gaps.csv.")
        lines.append("")
    lines += ["## Introductions", ""]
    if f.introductions:
        lines += [_md_table(("id", "week", "cities", "members", "met", "not yet", "could not", "no answer"),
                            [(i.id, i.week, " + ".join(i.cities), i.members, i.met, i.not_yet, i.could_not,
                              i.no_answer) for i in f.introductions]), ""]
    else:
        lines += ["No introduction was made in these weeks.", ""]
    lines += ["## Sessions", "", "RSVPs of every occurrence from the start of the period on (upcoming ones "
              "included). Attendance = RSVP going; no check-in is recorded.", ""]
    if f.sessions:
        lines += [_md_table(("session", "title", "occurrence (UTC)", "going", "maybe", "can't"),
                            [(s.session_id, s.title + (" (cancelled)" if s.cancelled else ""),
                              f"{s.occurrence:%Y-%m-%d %H:%M}", s.going, s.maybe, s.no) for s in f.sessions]), ""]
    else:
        lines += ["No RSVP yet.", ""]
    lines += ["## Network map", "",
              "Cities coloured by their first peer group; links weighted by the similarity of their challenge "
              "statements (the most similar pairs, and each city's closest peer); red links: introduced in the "
              "period.", ""]
    if "network.png" in pictures:
        lines += ["![Network map](network.png)", ""]
    files = [*tables, *(name for name in pictures)]
    if files:
        lines += ["## Files", "", *(f"- [{name}]({name})" for name in files), ""]
    return "\n".join(lines)


def _activity_cells(a: Activity) -> list[object]:
    values = {name: getattr(a, name) for name in ACTIVITY_FIELDS}
    values["answered_share"] = "" if a.answered_share is None else f"{a.answered_share:.4f}"
    values["met_share"] = "" if a.met_share is None else f"{a.met_share:.4f}"
    return [values[c] for c in ACTIVITY_COLUMNS]


def _short(a: Activity) -> tuple[object, ...]:
    return (a.questions, a.answered, a.helpful, a.not_helpful, a.solutions_saved, a.introductions,
            a.introductions_met, a.rsvp_going, a.rsvp_maybe, a.rsvp_no)


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _text(value: str) -> str:
    """Free text for a spreadsheet cell: one line, and never read as a formula (``=``, ``+``, ``-``, ``@``)."""
    value = " ".join(value.split())
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def _md_table(header: Sequence[str], rows: Iterable[Sequence[object]], cell: Callable[[object], str] = str) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md(cell(v)) for v in row) + " |" for row in rows]
    return "\n".join(out)
