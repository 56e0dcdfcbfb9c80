"""Builders of the core's replies: solution cards, city profiles, lists. No platform types here.

Cards say what the facts support, in words: the match ("close match", "related", "not sure"), never a score; a
provenance label with the record's own note; the passage that matched; a peer's saved answer with who and when.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from knowledge.confidence import CLOSE, NO_MATCH, NOT_SURE, RELATED, WEAK
from knowledge.excerpts import cut

from .messages import Actions, Button, Facts, Field, Reply, SolutionCard, Text
from .paging import CHALLENGES_PAGE, CITIES_PAGE, QUESTIONS_PAGE, Page, paginate, shorten, text_length
from .services import AskResult, CityProfile, Match
from .text import neutralize_mentions
from .actions import ASK_NETWORK, FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL, SHOW_SOLUTION

PROVENANCE_LABELS = MappingProxyType({
    "rrr": "featured in RRR sources",
    "rrr-city": "practice of an RRR city, not confirmed as an RRR case",
    "context": "city practice, not confirmed as an RRR case",
    "post-rrr": "after RRR (2022 or later)",
    "reference": "background reading",
    "network": "shared by a peer",
})
#: What people see instead of a score.
MATCH_WORDS = MappingProxyType({CLOSE: "close match", RELATED: "related", WEAK: "not sure"})
SUMMARY_CHARS = 320
#: A record body longer than this is not shown in chat; `rrr-bot kb show ID` prints it.
BODY_CHARS = 1500
_TAG = re.compile(r"\[[A-Z][A-Z-]*\]")  # "[CONTEXT]", "[POST-RRR]": the provenance code again, in a note


def answer_reply(result: AskResult) -> Reply:
    """The cards of a question's results, grouped as peer practice and background reading, with the buttons that
    fit the verdict: feedback for an answer; "Ask the network" (and why) when not sure or when nothing matches."""
    blocks: list = []
    if result.truncated:
        blocks.append(Text("Your question was long, so only its beginning was used for the search.", "muted"))
    if not result.results:
        blocks.append(Text("The knowledge base is empty. A coordinator can load the RRR corpus with "
                           "`rrr-bot kb seed`."))
        return Reply(tuple(blocks))
    if result.answered:
        blocks += _grouped(result.results, practice="What peer cities did:")
        if result.question_id is not None:
            value = str(result.question_id)
            blocks.append(Actions((Button("Helpful", FEEDBACK_HELPFUL, value, "primary"),
                                   Button("Not helpful", FEEDBACK_NOT_HELPFUL, value))))
        return Reply(tuple(blocks), question_id=_id(result))
    if result.verdict == NOT_SURE:
        shown = [a for a in result.results if a.match in (CLOSE, RELATED)] or list(result.results[:1])
        titles = [f"“{neutralize_mentions(a.title)}”" for a in shown]
        blocks.append(Text("Not sure: no record is about this exactly.", "heading"))
        blocks.append(Text(f"The closest records are about {_and(titles)}; they are related, but may not answer "
                           "your question."))
    else:
        shown = list(result.results[:1])
        blocks.append(Text("The network has no record about this.", "heading"))
    if result.closest_cities:
        blocks.append(Text("Cities working on the closest challenges: " + ", ".join(result.closest_cities)
                           + ". Their contacts are the best people to ask (`city NAME` shows them)."))
    if result.verdict == NO_MATCH:
        blocks.append(Text("The nearest record is far from your question; shown in case it helps:", "muted"))
        blocks += [_card(a) for a in shown]
    else:
        blocks += _grouped(shown, practice="Related practice of peer cities:")
    if result.question_id is not None:
        blocks.append(Text("“Ask the network” posts your question to the network channel, for the peers who work "
                           "on it.", "muted"))
        blocks.append(Actions((Button("Ask the network", ASK_NETWORK, str(result.question_id), "primary"),)))
    return Reply(tuple(blocks), question_id=_id(result))


def _id(result: AskResult) -> str | None:
    """The recorded question's id as the buttons carry it (None when the question was not recorded)."""
    return None if result.question_id is None else str(result.question_id)


def _grouped(answers, *, practice: str) -> list:
    """Peer practice under ``practice`` and reference documents under "Background reading:", the group of the best
    ranked card first."""
    groups: dict[str, list] = {}
    for answer in answers:
        groups.setdefault("reference" if answer.kind == "reference" else "practice", []).append(answer)
    blocks: list = []
    for kind, members in groups.items():
        blocks.append(Text("Background reading:" if kind == "reference" else practice, "heading"))
        blocks += [_card(a) for a in members]
    return blocks


def _card(answer) -> SolutionCard:
    summary = cut(neutralize_mentions(answer.summary), SUMMARY_CHARS)
    passage = neutralize_mentions(" ".join(answer.passage.split()))
    if passage and not answer.heading and not answer.page and passage.strip("… ") in summary:
        passage = ""  # the summary already shows the sentences that matched
    saved_at = f"{answer.saved_at:%Y-%m-%d}" if answer.saved_at else ""
    label = provenance_label(answer.provenance, answer.saved_by, saved_at, unreviewed=answer.status == "pending")
    return SolutionCard(
        solution_id=answer.id, title=neutralize_mentions(answer.title), city=neutralize_mentions(answer.city),
        country=neutralize_mentions(answer.country), summary=summary, provenance=label,
        source_url=answer.link, heading=neutralize_mentions(answer.heading) or None, passage=passage,
        match=MATCH_WORDS.get(answer.match, "not sure"), provenance_note=provenance_note(answer.provenance_note, label),
        saved_by=neutralize_mentions(answer.saved_by or ""), saved_at=saved_at, kind=answer.kind,
        buttons=(Button("More", SHOW_SOLUTION, answer.id),), page=answer.page,
    )


def provenance_label(provenance: str, saved_by: str | None = None, saved_at: str = "", *,
                     unreviewed: bool = False) -> str:
    """What the facts support: the label of ``provenance``, or who shared a peer's saved answer and when (and
    that no coordinator has reviewed it yet, when ``unreviewed``)."""
    if saved_by:
        shared = f"shared by {neutralize_mentions(saved_by)}" + (f" on {saved_at}" if saved_at else "")
        return f"unreviewed, {shared}" if unreviewed else shared
    return PROVENANCE_LABELS.get(provenance, provenance)


def provenance_note(note: str, label: str = "") -> str:
    """A record's provenance note when it adds to ``label``: without the "[CONTEXT]"-style tags that only repeat
    the provenance code; empty when nothing else is left."""
    parts = [p.strip(" ,;:.-–—") for p in _TAG.split(note or "")]
    text = "; ".join(p for p in parts if p)
    return "" if text.lower() == label.lower() else neutralize_mentions(text)


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def solution_reply(solution, saver: str | None = None) -> Reply:
    """A whole record (a :class:`bot.store.Solution` row): what a card's "More" button and `show ID` answer;
    ``saver`` is the display name of whoever saved it (its stored platform id otherwise)."""
    saved_at = f"{solution.created_at:%Y-%m-%d}" if solution.saved_by and solution.created_at else ""
    label = provenance_label(solution.provenance, (saver or solution.saved_by) if solution.saved_by else None,
                             saved_at, unreviewed=solution.status == "pending")
    fields = [Field("City", f"{solution.city}, {solution.country}"),
              Field("Kind", "background reading" if solution.kind == "reference" else "peer practice"),
              Field("Provenance", label)]
    note = provenance_note(solution.provenance_note, label)
    if note:
        fields.append(Field("Note", note))
    if solution.status != "approved":
        fields.append(Field("Status", "unreviewed (waiting for a coordinator's review)"))
    if solution.source_url:
        fields.append(Field("Source", solution.source_url))
    if solution.tags:
        fields.append(Field("Tags", ", ".join(solution.tags)))
    fields.append(Field("Id", solution.id))
    blocks: list = [Facts(tuple(Field(f.label, neutralize_mentions(f.value)) for f in fields),
                          title=neutralize_mentions(solution.title)),
                    Text("Challenge: " + neutralize_mentions(solution.challenge)),
                    Text(neutralize_mentions(solution.summary))]
    body = (solution.body or "").strip()
    if len(body) > BODY_CHARS:
        blocks.append(Text(f"The full document is longer ({len(body):,} characters): `rrr-bot kb show {solution.id}` "
                           "prints it.", "muted"))
    elif body and body != solution.summary.strip():
        blocks.append(Text(neutralize_mentions(body)))
    return Reply(tuple(blocks))


def cities_reply(profiles: list[CityProfile], page: int = 1, *, command: str = "cities") -> Reply:
    """Page ``page`` of the network's cities, by name (:data:`~bot.paging.CITIES_PAGE` a page)."""
    if not profiles:
        return Reply.text("No cities yet. Load the RRR network with `rrr-bot kb seed` or `rrr-bot cities import FILE`.")
    shown = cities_page(profiles, page, command)
    heading = f"{len(profiles)} cities in the network:" if shown.count == 1 else \
        f"Cities {shown.first}-{shown.last} of the network's {shown.total}:"
    lines = "\n".join(_city_line(p) for p in shown.items)
    return Reply((Text(heading, "heading"), Text(lines)) + shown.end(command))


def cities_page(profiles: list[CityProfile], page: int, command: str) -> Page[CityProfile]:
    """Page ``page`` of the cities (the pages of `cities N` in chat and ``rrr-bot cities list --page N``)."""
    return paginate(profiles, page, size=CITIES_PAGE, length=lambda p: text_length(_city_line(p)) + 1, command=command)


def _city_line(p: CityProfile) -> str:
    return shorten(f"- {p.name} ({p.country}) - peer group: {', '.join(p.peer_groups) or 'none'}")


def unanswered_reply(questions: list, page: int = 1, *, command: str = "unanswered") -> Reply:
    """Page ``page`` of the questions the knowledge base could not answer, the newest first
    (:data:`~bot.paging.QUESTIONS_PAGE` a page); each says its number and day."""
    if not questions:
        return Reply.text("Every question asked so far found a close match.")
    shown = questions_page(questions, page, command)
    heading = f"{len(questions)} recent unanswered question(s):" if shown.count == 1 else \
        f"Unanswered questions {shown.first}-{shown.last} of {shown.total}, the newest first:"
    lines = "\n".join(_question_line(q) for q in shown.items)
    return Reply((Text(heading, "heading"), Text(lines)) + shown.end(command))


def questions_page(questions: list, page: int, command: str) -> Page:
    """Page ``page`` of the unanswered questions (the pages of `unanswered N` in chat and ``rrr-bot kb unanswered
    --page N``)."""
    return paginate(questions, page, size=QUESTIONS_PAGE, length=lambda q: text_length(_question_line(q)) + 1,
                    command=command)


def _question_line(q) -> str:
    return f"- #{q.id} ({q.asked_at:%Y-%m-%d}) {shorten(neutralize_mentions(q.text))}"


def city_reply(profile: CityProfile, page: int = 1, *, command: str = "", numbered: bool = False) -> Reply:
    """A city's profile and page ``page`` of its challenges (:data:`CHALLENGES_PAGE` a page, the footer names
    ``command`` with the next page's number); ``numbered`` counts them for `challenge remove N`."""
    fields = (
        Field("Country", profile.country),
        Field("Time zone", profile.timezone),
        Field("Languages", ", ".join(profile.languages) or "-"),
        Field("Peer group", ", ".join(profile.peer_groups) or "-"),
        Field("Contacts", ", ".join(profile.members) or "none linked yet (`iam CITY`)"),
    )
    command = command or f"city {profile.name}"
    shown = challenges_page(profile, page, command)
    challenges = "\n".join(f"{i}. {c}" if numbered else f"- {c}" for i, c in shown.items) or "- none recorded"
    heading = "Challenges:" if shown.count == 1 else \
        f"Challenges {shown.first}-{shown.last} of {shown.total}:"
    return Reply((Facts(fields, title=profile.name), Text(f"{heading}\n{challenges}")) + shown.end(command))


def challenges_page(profile: CityProfile, page: int, command: str) -> Page[tuple[int, str]]:
    """Page ``page`` of a city's challenges, each with its number (the pages of `city NAME N` in chat and of
    ``rrr-bot cities show NAME --page N``)."""
    numbers = list(enumerate(profile.challenges, start=1))
    return paginate(numbers, page, size=CHALLENGES_PAGE, length=lambda item: text_length(item[1]) + 6, command=command)


def intro_reply(matches: list[Match], *, city: str | None, topic: str | None) -> Reply:
    """Peer cities for a member's city (or a topic), each with the shared challenges and what to learn."""
    if not matches:
        return Reply.text("No city has challenges close enough to suggest yet.")
    from .services.intros import lesson_text

    subject = f"“{neutralize_mentions(topic)}”" if topic else city
    blocks: list = [Text(f"Cities to talk to about {subject}:", "heading")]
    for match in matches:
        others = [c for c in match.cities if c not in (city, match.subject)] or list(match.cities)
        lines = [f"{', '.join(others)}, on the closest challenges:"]
        lines += [f"- {neutralize_mentions(s.a)} ↔ {s.b}" for s in match.shared[:2]]
        lines += [f"- {lesson.learner or 'You'} could learn from {lesson.teacher}: "
                  f"{lesson_text(lesson, PROVENANCE_LABELS)}" for lesson in match.learn]
        people = [f"{c}: {', '.join(m)}" for c, m in match.contacts if c in others and m]
        lines.append("Contacts: " + ("; ".join(people) if people else "none linked yet"))
        blocks.append(Text("\n".join(lines)))
    return Reply(tuple(blocks))


def preview_lines(match: Match) -> list[str]:
    """A round's group as text lines (the CLI preview)."""
    from .services.intros import lesson_text

    lines = [f"{' + '.join(match.cities)} (similarity {match.score:.2f})"]
    lines += [f"  {s.city_a}: {s.a}\n  {s.city_b}: {s.b}  [{s.similarity:.2f}]" for s in match.shared[:2]]
    lines += [f"  {lesson.learner} could learn from {lesson.teacher}: {lesson_text(lesson, PROVENANCE_LABELS)}"
              for lesson in match.learn]
    lines += ["  meet: " + ", ".join(f"{t:%a %d %b %H:%M} UTC" for t in match.slots)]
    return lines
