"""What the card tests of the core, the console, Slack and Discord share: records that break naive cards, questions
that find them, and thresholds that make a reply answered, "not sure" or "no match" whatever the calibration."""

from __future__ import annotations

from pathlib import Path

from bot import Runtime
from bot.store import Solutions
from conftest import make_settings
from knowledge.records import solution_from_mapping

#: ``[knowledge] threshold`` values: every record is a close match / no record is even related.
ANSWER_ALL = "-1"
NOTHING = "5"

VOUCHERS = "how did cities support local shops with vouchers?"
BONO = "bilbao-bono-bilbao-vouchers"  # provenance context, note "[CONTEXT]; fits the Bilbao–Dublin ..."
BONO_NOTE = "fits the Bilbao–Dublin local-markets cluster"
AWARDS = "how did the city council reward social enterprises with awards?"  # asked with city:Dublin
AWARDS_ID = "dublin-social-enterprise-awards"  # provenance rrr-city
AWARDS_NOTE = "practice itself not confirmed as presented in RRR"
#: Finds peer practice and reference documents (with their sections' headings) together.
MIXED = "which laws give the social economy a legal status?"
NOT_CONFIRMED = "not confirmed as an RRR case"

#: A stored source URL that, put raw into Slack's ``<url|title>``, posts a live @channel (#17, 1).
BAD_URL = "https://a.example/x><!channel><https://b.example/y"
MASKED = "[click here](https://evil.example)"
#: Terminal escapes in a stored title: red text and a right-to-left override that reverses what follows.
ANSI = "\x1b[31m"
RLO = "\u202e"

#: A question answered on page 14 of the test guide (tests/data/docs), under its section's heading path.
GUIDE_QUESTION = "How much money did the Valmora region put into its revolving loan fund, and at what interest rate?"
GUIDE_PAGE = 14
GUIDE_HEADING = "4 Financing › The revolving loan fund"
GUIDE_URL = "https://example.org/community-energy-guide.pdf"
GUIDE_TITLE = "Municipal Support for Community Energy Cooperatives: A Practice Guide"

REPAIR = "how did a city run repair cafés with volunteer repairers?"
REPAIR_FIRST = ("Turin opened repair cafés in the libraries and community centres of every district, where volunteers "
                "fixed household appliances, bicycles and clothes for free while teaching residents to repair things "
                "themselves; the city paid for tools and for a coordinator per district.")
#: A figure sits across the 320th character: a naive cut shows "482 people as repairers, 228 in…".
REPAIR_SUMMARY = REPAIR_FIRST + (" It trained 482 people as repairers, 228 in work within six months, and 9,400 items "
                                 "were kept out of landfill.")

BEES = "did any city put beehives on the roofs of its buildings?"
BEES_SUMMARY = ("Rotterdam placed 40 beehives on the roofs of council buildings and trained 25 caretakers as "
                "beekeepers; a social enterprise that employs people far from the job market sells the honey.")


def record(solution_id: str, title: str, summary: str, **extra: str):
    """A practice record of Turin (a network city) for import."""
    return solution_from_mapping({"id": solution_id, "city": "Turin", "country": "Italy", "title": title,
                                  "challenge": "Help residents and keep goods in use", "summary": summary,
                                  "provenance": "context", **extra})


def repair_record():
    return record("turin-repair-cafes", "Repair cafés in every district", REPAIR_SUMMARY)


def masked_record():
    return record("turin-masked", f"{MASKED} Repair cafés for bicycles",
                  f"{MASKED} Volunteers repaired bicycles of residents in repair cafés of every district.")


def ansi_record():
    return record("turin-ansi", f"Repair {ANSI}cafés{RLO} for bicycles",
                  f"Volunteers {ANSI}repaired{RLO} bicycles of residents in repair cafés of every district.")


def save_bees(rt: Runtime, *, reviewed: bool = True) -> str:
    """A peer's answer saved by Ana (slack:U0ANA), approved at once unless not ``reviewed``; returns its id."""
    rt.directory.remember("slack", "U0ANA", "Ana")
    return rt.knowledge.save_answer(title="Rooftop beehives on council buildings", city="Rotterdam",
                                    country="Netherlands", summary=BEES_SUMMARY, saved_by="slack:U0ANA",
                                    reviewed=reviewed)


def saved_on(rt: Runtime, solution_id: str) -> str:
    return f"{rt.knowledge.get(solution_id).created_at:%Y-%m-%d}"


def poison_url(rt: Runtime, solution_id: str, url: str = BAD_URL) -> None:
    """Store ``url`` as a record's source, past the import's checks (as a record saved before they existed)."""
    with rt.db.session() as session:
        Solutions(session).get(solution_id).source_url = url


def not_sure_threshold(data_dir: Path, question: str) -> str:
    """A ``[knowledge] threshold`` that leaves ``question``'s best record related but not close ("not sure")."""
    with Runtime.open(make_settings(data_dir)) as rt:
        best = max(a.score for a in rt.knowledge.ask(question).results)
        calibration = rt.knowledge.calibration
    return str(best + (calibration.close - calibration.related) / 2)


def score_texts(results) -> list[str]:
    """The ways a result's score could be printed."""
    return [f"{value:.{digits}f}" for a in results for value in (a.score, a.cosine) for digits in (2, 3, 4)]


def guide_document():
    """The 38-page test guide as a document of background reading, published at :data:`GUIDE_URL`."""
    from knowledge.documents import DocumentMeta, read_document

    path = Path(__file__).resolve().parent / "data" / "docs" / "community-energy-guide.pdf"
    return read_document(path, path.read_bytes(), DocumentMeta(
        city="Valmora", country="Examplia", provenance="reference", source_url=GUIDE_URL))
