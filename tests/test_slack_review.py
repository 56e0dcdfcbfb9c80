"""The review buttons and the cards' More button on the real slack-bolt app, over signed HTTP (#17 items 1 and 2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from slack_fake import FakeSlack, blocks_text, event_callback, next_ts
from slack_harness import (  # noqa: F401  (fixtures)
    ACK_BUDGET, ServedSlack, fake, fake_slack, serve_slack, slack_settings,
)

pytestmark = pytest.mark.timeout(180)

SAVED = dict(title="Rooftop beekeeping cooperative", city="Bilbao", country="Spain",
             summary="Unemployed residents run hives on public roofs and sell the honey as a cooperative.")


@pytest.fixture
def slack(serve_slack, fake: FakeSlack, seeded_dir: Path) -> ServedSlack:
    return serve_slack(slack_settings(seeded_dir, fake, RRR_BOT__COORDINATORS='["slack:U0BOSS"]'), warm_up=True)


def test_more_shows_the_whole_record_privately(slack: ServedSlack) -> None:
    _, sent = slack.click("show_solution", "rotterdam-social-impact-fund", user="U0ASKER")
    assert sent.status == 200 and sent.seconds < ACK_BUDGET
    [post] = slack.posts("C0GENERAL", method="chat.postEphemeral")
    assert "Social Impact Fund Rotterdam" in post.text and "228" in post.text  # the whole summary, figures included
    assert post.params["user"] == "U0ASKER"


def test_a_coordinator_approves_a_saved_answer_with_the_button(slack: ServedSlack) -> None:
    kb = slack.runtime.knowledge
    solution_id = kb.save_answer(saved_by="slack:U0ANA", **SAVED)
    _, sent = slack.click("review_approve", f"solution:{solution_id}", user="U0EVE")
    assert sent.status == 200
    [refused] = slack.posts("C0GENERAL", method="chat.postEphemeral")
    assert "Only coordinators" in refused.text and kb.get(solution_id).status == "pending"
    slack.click("review_approve", f"solution:{solution_id}", user="U0BOSS")
    approved = slack.posts("C0GENERAL", count=2, method="chat.postEphemeral")[1]
    assert "network knowledge now" in approved.text
    assert kb.get(solution_id).status == "approved"
    assert kb.ask("rooftop beekeeping cooperative honey").results[0].id == solution_id


def test_the_coordinators_app_home_lists_saved_answers_to_review(slack: ServedSlack) -> None:
    kb = slack.runtime.knowledge
    solution_id = kb.save_answer(saved_by="slack:U0ANA", **SAVED)
    event = {"type": "app_home_opened", "user": "U0BOSS", "channel": "D0BOSS", "tab": "home", "event_ts": next_ts()}
    assert slack.sender.event(event_callback(event)).status == 200
    [call] = slack.fake.wait_for("views.publish", timeout=30)
    text = blocks_text(call.view["blocks"])
    saved_on = f"{kb.get(solution_id).created_at:%Y-%m-%d}"
    assert f"Rooftop beekeeping cooperative (Bilbao): unreviewed, shared by slack:U0ANA on {saved_on}" in text
    values = [(e["action_id"], e.get("value")) for b in call.view["blocks"] if b["type"] == "actions"
              for e in b["elements"]]
    assert ("review_approve", f"solution:{solution_id}") in values
    # a click in the App Home has no channel of its own: the answer goes to the coordinator
    slack.click("review_approve", f"solution:{solution_id}", user="U0BOSS", channel="D0BOSS", container_type="view")
    [approved] = slack.posts("D0BOSS", method="chat.postEphemeral")
    assert "network knowledge now" in approved.text and kb.get(solution_id).status == "approved"


def test_a_city_member_approves_a_join_request_with_the_button(slack: ServedSlack) -> None:
    rt = slack.runtime
    rt.directory.link("slack", "U0ANA", "Bilbao", "Ana")
    result = rt.bot.review.memberships.join("slack", "U0EVE", "Bilbao", "Eve")
    assert result.request is not None and "U0ANA" in result.reviewers
    slack.click("review_approve", f"join:{result.request.id}", user="U0ANA")
    [done] = slack.posts("C0GENERAL", method="chat.postEphemeral")
    assert f"Request #{result.request.id} approved" in done.text
    assert rt.directory.member_city("slack", "U0EVE") == "Bilbao"
