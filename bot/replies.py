"""Builders of the core's replies: solution cards, city profiles, lists. No platform types here."""

from __future__ import annotations

from knowledge.text import shorten

from .messages import Actions, Button, Facts, Field, Reply, SolutionCard, Text
from .services import AskResult, CityProfile, Match
from .text import neutralize_mentions

PROVENANCE_LABELS = {
    "rrr": "cited in RRR sources",
    "context": "city practice (not confirmed as an RRR case)",
    "post-rrr": "after RRR (2022+)",
    "reference": "reference material",
    "network": "shared by a peer",
}
SUMMARY_CHARS = 320


def answer_reply(result: AskResult) -> Reply:
    """Solution cards with feedback buttons, or a 'no close match' reply naming whom to ask."""
    blocks: list = []
    if result.truncated:
        blocks.append(Text("Your question was long, so only its beginning was used for the search.", "muted"))
    if not result.results:
        blocks.append(Text("The knowledge base is empty. A coordinator can load the RRR corpus with "
                           "`rrr-bot kb seed`."))
        return Reply(tuple(blocks))
    if result.answered:
        blocks.append(Text("Here is what peer cities did:", "heading"))
        blocks += [_card(a) for a in result.results]
        if result.question_id is not None:
            value = str(result.question_id)
            blocks.append(Actions((Button("Helpful", "feedback_helpful", value, "primary"),
                                   Button("Not helpful", "feedback_not_helpful", value))))
        return Reply(tuple(blocks))
    blocks.append(Text("I found no close match in the knowledge base.", "heading"))
    if result.closest_cities:
        blocks.append(Text("Cities working on the closest challenges: " + ", ".join(result.closest_cities)
                           + ". Their contacts are the best people to ask (`city NAME` shows them)."))
    nearest = result.results[0]
    blocks.append(Text(f"The nearest solution, below the confidence threshold (score {nearest.score:.3f} < "
                       f"{result.threshold:.3f}); it may still help:", "muted"))
    blocks.append(_card(nearest))
    if result.question_id is not None:
        blocks.append(Actions((Button("Ask the network", "ask_network", str(result.question_id), "primary"),)))
    return Reply(tuple(blocks))


def _card(answer) -> SolutionCard:
    return SolutionCard(
        solution_id=answer.id, title=neutralize_mentions(answer.title), city=answer.city, country=answer.country,
        summary=neutralize_mentions(shorten(answer.summary, SUMMARY_CHARS)), score=answer.score,
        provenance=PROVENANCE_LABELS.get(answer.provenance, answer.provenance), source_url=answer.source_url,
        heading=answer.heading or None,
    )


def cities_reply(profiles: list[CityProfile]) -> Reply:
    if not profiles:
        return Reply.text("No cities yet. Load the RRR network with `rrr-bot kb seed` or `rrr-bot cities import FILE`.")
    lines = [f"- {p.name} ({p.country}) - peer group: {', '.join(p.peer_groups) or 'none'}" for p in profiles]
    return Reply((Text(f"{len(profiles)} cities in the network:", "heading"), Text("\n".join(lines))))


def city_reply(profile: CityProfile) -> Reply:
    fields = (
        Field("Country", profile.country),
        Field("Time zone", profile.timezone),
        Field("Languages", ", ".join(profile.languages) or "-"),
        Field("Peer group", ", ".join(profile.peer_groups) or "-"),
        Field("Contacts", ", ".join(profile.members) or "none linked yet (`iam CITY`)"),
    )
    challenges = "\n".join(f"- {c}" for c in profile.challenges) or "- none recorded"
    return Reply((Facts(fields, title=profile.name), Text("Challenges:\n" + challenges)))


def intro_reply(matches: list[Match], *, city: str | None, topic: str | None) -> Reply:
    """Peer cities for a member's city (or a topic), each with the shared challenges and what to learn."""
    if not matches:
        return Reply.text("No city has challenges close enough to suggest yet.")
    from .services.intros import lesson_text

    subject = f"“{neutralize_mentions(topic)}”" if topic else city
    blocks: list = [Text(f"Cities to talk to about {subject}:", "heading")]
    for match in matches:
        others = [c for c in match.cities if c not in (city, match.subject)] or list(match.cities)
        lines = [f"{', '.join(others)} (similarity {match.score:.2f})"]
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
