"""Chat fixes of issue #14: introductions to groups bigger than a Slack group DM, `role` targets that must be real
members, and insights that tell "no question asked yet" from "every question found an answer".

The Slack tests run the adapter's real Bolt app over HTTP against the local fake Slack (``slack_fake``), which
refuses ``conversations.open`` with more than 8 user ids, as Slack does.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

from adapters.cli import app
from bot import Runtime
from bot.messages import Image
from bot.services.insights import Insights
from bot.services.insights_charts import charts
from bot.testing import TestAdapter
from conftest import make_settings
from slack_fake import (
    FakeSlack,
)
from slack_harness import (  # noqa: F401  (fixtures)
    ANSWER_WAIT, ServedSlack, fake, fake_slack, serve_slack, slack_settings,
)

pytestmark = pytest.mark.timeout(180)

ROOT = Path(__file__).resolve().parents[1]
COORDINATOR = '["test:BOSS"]'
VOUCHERS = "how did cities support local shops with vouchers?"
DISCORD_ANSWER = 30.0


@pytest.fixture
def slack(serve_slack, fake: FakeSlack, seeded_dir: Path) -> ServedSlack:
    return serve_slack(slack_settings(seeded_dir, fake))


# -- insights: "no question asked yet" is not "every question found an answer" -------------------------------------

def png_title(data: bytes) -> str:
    with PILImage.open(io.BytesIO(data)) as picture:
        return picture.text.get("Title", "")


@pytest.fixture
def network(seeded_dir: Path) -> Iterator[Runtime]:
    with Runtime.open(make_settings(seeded_dir, RRR_BOT__COORDINATORS=COORDINATOR)) as rt:
        yield rt


def insights_in_chat(rt: Runtime) -> tuple[str, bytes]:
    """The coordinator's ``insights`` answer: its text and its gaps picture."""
    exchange = asyncio.run(TestAdapter(rt.bot, user="BOSS").send("insights"))
    [gaps] = [b for b in exchange.blocks(Image) if b.name == "gaps.png"]
    return exchange.text, gaps.data


def test_gaps_say_no_question_was_asked_when_none_was(network: Runtime, tmp_path: Path) -> None:
    text, picture = insights_in_chat(network)
    assert "Coverage gaps: none to show, no question asked yet." in text and "every question" not in text
    assert png_title(picture) == "Coverage gaps: no data yet (no question asked yet)"
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["insights", "report", "--out", str(out)],
                                env={"RRR_DATA_DIR": str(network.settings.data_dir),
                                     "RRR_BOT__COORDINATORS": COORDINATOR})
    assert result.exit_code == 0, result.output
    markdown = (out / "report.md").read_text("utf-8")
    assert "No gap to show: no question asked yet in these weeks." in markdown and "every question" not in markdown
    assert png_title((out / "gaps.png").read_bytes()) == "Coverage gaps: no data yet (no question asked yet)"


def test_the_report_summary_names_report_md_once(network: Runtime, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["insights", "report", "--out", str(out)],
                                env={"RRR_DATA_DIR": str(network.settings.data_dir)})
    assert result.exit_code == 0, result.output
    summary = " ".join(result.output.split())
    assert summary.count("report.md") == 1, summary
    others = sorted(p.name for p in out.iterdir() if p.name != "report.md")
    assert f"and {len(others)} other files ({', '.join(others)})" in summary


def test_gaps_say_every_question_was_answered_only_when_one_was_asked(network: Runtime) -> None:
    asyncio.run(TestAdapter(network.bot, user="U1").send(f"ask {VOUCHERS}"))
    report = Insights(network.directory, network.knowledge).report(12)
    assert report.figures.totals.questions == 1 == report.figures.totals.answered and not report.gaps.clusters
    assert png_title(charts(report)["gaps.png"]) == "Coverage gaps: no data yet (every question found an answer)"
    text, _ = insights_in_chat(network)
    assert "every question found an answer" in text and "no question asked yet" not in text

