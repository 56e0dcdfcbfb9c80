"""Approve / Edit / Reject of a saved answer (#16 review queue), and `history ID`: the core through TestAdapter, then
Slack through the real slack-bolt app over signed HTTP against the fake Slack (views.open, view_submission).

Edits keep the history: who changed what, when; the edit form writes only the fields its coordinator changed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot import Runtime
from bot.messages import Action, Actions, reply_from_dict
from bot.review import EDIT, EDIT_SUBMIT, EditForm
from bot.store.models import OutboxMessage
from bot.testing import Exchange, TestAdapter
from conftest import make_settings
from slack_fake import FakeSlack, block_action, event_callback, input_values, next_ts, view_submission
from slack_harness import (  # noqa: F401  (fixtures)
    ServedSlack, assert_modal, fake, fake_slack, serve_slack, slack_settings,
)

SAVED = dict(title="Rooftop beekeeping cooperative", city="Bilbao", country="Spain",
             summary="Unemployed residents run hives on public roofs and sell the honey as a cooperative.")


def say(adapter: TestAdapter, text: str, **kw) -> Exchange:
    return asyncio.run(adapter.send(text, **kw))


def click(adapter: TestAdapter, action_id: str, value: str = "", **kw) -> Exchange:
    return asyncio.run(adapter.click(action_id, value, **kw))


def form_of(rt: Runtime, solution_id: str, user: str = "BOSS") -> EditForm:
    form = asyncio.run(rt.bot.edit_form(Action("test", user, EDIT, f"solution:{solution_id}")))
    assert isinstance(form, EditForm), form
    return form


def submitted(form: EditForm, **changes: str) -> dict[str, str]:
    """The fields of ``form`` as its coordinator submits it: the prefilled values, ``changes`` replacing some."""
    return {i.name: changes.get(i.name, i.value) for i in form.inputs} | {"seen": form.seen}


@pytest.fixture
def network(seeded_dir: Path) -> Iterator[Runtime]:
    """The seeded network with ``test:BOSS`` and ``test:ANN`` as coordinators."""
    with Runtime.open(make_settings(seeded_dir, RRR_BOT__COORDINATORS='["test:BOSS", "test:ANN"]')) as rt:
        yield rt


# -- the core (TestAdapter) ------------------------------------------------------------------------------------------

def test_the_review_message_and_the_pending_list_offer_edit(network: Runtime) -> None:
    member = TestAdapter(network.bot, user="ANA", user_name="Ana")
    rt = network
    rt.directory.link("test", "ANA", "Bilbao", "Ana")
    click(member, "save_solution", **SAVED).assert_reply("for review")
    [solution] = rt.knowledge.pending()
    buttons = [[(b.label, b.action_id, b.value) for b in block.buttons] for block in
               (rt.bot.review.home_section()) if isinstance(block, Actions)]
    value = f"solution:{solution.id}"
    assert buttons == [[("Approve", "review_approve", value), ("Edit", EDIT, value), ("Reject", "review_reject", value),
                        ("More", "show_solution", solution.id)]]
    # the coordinators' DM (through the outbox) carries the same four buttons
    with rt.db.session() as session:
        dms = {tuple(m.users): reply_from_dict(m.payload) for m in session.exec(select(OutboxMessage))
               if m.key.startswith("review:")}
    assert sorted(dms) == [("ANN",), ("BOSS",)]
    for reply in dms.values():
        assert [(b.label, b.value) for block in reply.blocks if isinstance(block, Actions) for b in block.buttons] \
            == [("Approve", value), ("Edit", value), ("Reject", value), ("More", solution.id)]
    boss = TestAdapter(rt.bot, user="BOSS", user_name="Boss")
    say(boss, "pending").assert_reply(solution.id, "`history ID`")
    # a platform that draws no forms (the console) says where the form is
    click(boss, EDIT, value).assert_reply(f"Edit `{solution.id}` with the Edit button in Slack or Discord")
    say(boss, "help").assert_reply("`history ID [PAGE]` - who saved, edited, approved or rejected a solution")


def test_a_coordinator_edits_a_saved_answer_and_the_history_says_who_what_when(network: Runtime) -> None:
    rt = network
    solution_id = rt.knowledge.save_answer(saved_by="test:ANA", **SAVED)
    form = form_of(rt, solution_id)
    assert [(i.name, i.required) for i in form.inputs] == [
        ("title", True), ("challenge", True), ("summary", True), ("source_url", False), ("tags", False)]
    shown = {i.name: i.value for i in form.inputs}
    assert shown["title"] == SAVED["title"] and shown["summary"] == SAVED["summary"] and shown["tags"] == ""
    boss = TestAdapter(rt.bot, user="BOSS", user_name="Boss")
    summary = SAVED["summary"] + " 40 hives, 2 tonnes of honey a year."
    done = click(boss, EDIT_SUBMIT, f"solution:{solution_id}",
                 **submitted(form, summary=summary, tags="Food, employment; food"))
    done.assert_reply(f"Edited `{solution_id}` (summary, tags changed). It still waits for review.",
                      "tags: food, employment", "2 tonnes of honey")
    assert all(r.ephemeral for r in done.replies)
    solution = rt.knowledge.get(solution_id)
    assert (solution.status, solution.summary, solution.tags) == ("pending", summary, ["food", "employment"])
    last = rt.knowledge.history(solution_id)[-1]
    assert (last.action, last.changed_by) == ("edited", "test:BOSS")
    assert last.changes == {"summary": [SAVED["summary"], summary], "tags": [[], ["food", "employment"]]}
    # an edit is not an approval: found with its new text, still as unreviewed
    [found] = [r for r in rt.knowledge.ask("rooftop beekeeping honey cooperative").results if r.id == solution_id]
    assert (found.status, found.summary) == ("pending", summary)
    # the chat's `history ID`: the same steps as `rrr-bot kb history`, shortened values
    history = say(boss, f"history {solution_id}")
    history.assert_reply(f"History of `{solution_id}` (2 step(s)", "saved by test:ANA", "edited by test:BOSS",
                         "    tags: food, employment", f"summary: {SAVED['summary']} -> ")


def test_an_unchanged_form_writes_nothing_and_edits_do_not_undo_each_other(network: Runtime) -> None:
    rt = network
    solution_id = rt.knowledge.save_answer(saved_by="test:ANA", **SAVED)
    boss, ann = (TestAdapter(rt.bot, user=u) for u in ("BOSS", "ANN"))
    boss_form, ann_form = form_of(rt, solution_id, "BOSS"), form_of(rt, solution_id, "ANN")
    click(boss, EDIT_SUBMIT, f"solution:{solution_id}", **submitted(boss_form)).assert_reply("Nothing changed")
    assert len(rt.knowledge.history(solution_id)) == 1  # no empty "edited" step
    click(boss, EDIT_SUBMIT, f"solution:{solution_id}",
          **submitted(boss_form, title="Beekeeping on Bilbao's roofs")).assert_reply("(title changed)")
    # Ann opened the form before Boss's edit and changed only the summary: Boss's title stays
    click(ann, EDIT_SUBMIT, f"solution:{solution_id}",
          **submitted(ann_form, summary="Residents keep bees on 12 public roofs.")).assert_reply("(summary changed)")
    solution = rt.knowledge.get(solution_id)
    assert (solution.title, solution.summary) == ("Beekeeping on Bilbao's roofs",
                                                  "Residents keep bees on 12 public roofs.")
    assert [(s.action, s.changed_by, sorted(s.changes)) for s in rt.knowledge.history(solution_id)] == [
        ("saved", "test:ANA", ["challenge", "city", "country", "kind", "language", "provenance", "summary", "title"]),
        ("edited", "test:BOSS", ["title"]), ("edited", "test:ANN", ["summary"])]


def test_members_cannot_open_or_submit_the_edit_form(network: Runtime) -> None:
    rt = network
    solution_id = rt.knowledge.save_answer(saved_by="test:EVE", **SAVED)
    refused = asyncio.run(rt.bot.edit_form(Action("test", "EVE", EDIT, f"solution:{solution_id}")))
    assert isinstance(refused, list) and "Only coordinators can edit" in refused[0].as_text()
    assert refused[0].ephemeral and refused[0].is_error
    eve = TestAdapter(rt.bot, user="EVE")
    click(eve, EDIT_SUBMIT, f"solution:{solution_id}", title="Mine now", summary="x", challenge="y") \
        .assert_error().assert_reply("Only coordinators can edit")
    assert rt.knowledge.get(solution_id).title == SAVED["title"] and len(rt.knowledge.history(solution_id)) == 1
    say(eve, f"history {solution_id}").assert_error().assert_reply("Only coordinators can use `history`")
    # "history of ..." is a question, not the command
    say(eve, "history of cooperatives in Bilbao?").assert_no_reply("Only coordinators")


def test_bad_values_and_vanished_answers_get_polite_replies(network: Runtime) -> None:
    rt = network
    solution_id = rt.knowledge.save_answer(saved_by="test:ANA", **SAVED)
    form = form_of(rt, solution_id)
    boss = TestAdapter(rt.bot, user="BOSS")
    value = f"solution:{solution_id}"
    click(boss, EDIT_SUBMIT, value, **submitted(form, title="  ")).assert_error() \
        .assert_reply("Title cannot be empty.", "Nothing was changed.")
    click(boss, EDIT_SUBMIT, value, **submitted(form, summary="x" * 3001)).assert_error() \
        .assert_reply("at most 3,000 characters (this has 3,001)")
    click(boss, EDIT_SUBMIT, value, **submitted(form, source_url="not a link")).assert_error() \
        .assert_reply("http(s) link")
    assert len(rt.knowledge.history(solution_id)) == 1
    rt.knowledge.reject(solution_id, "test:ANN")  # meanwhile, another coordinator rejected it
    click(boss, EDIT_SUBMIT, value, **submitted(form, title="Too late")).assert_error() \
        .assert_reply(f"`{solution_id}` was rejected on", "nothing to edit")
    gone = asyncio.run(rt.bot.edit_form(Action("test", "BOSS", EDIT, value)))
    assert isinstance(gone, list) and "was rejected" in gone[0].as_text()
    click(boss, EDIT, "solution:no-such-answer").assert_error().assert_reply("There is no saved answer")
    say(boss, "history no-such-answer").assert_error().assert_reply("No solution with id 'no-such-answer'")
    say(boss, "history").assert_error().assert_reply("Usage: `history ID`")


def test_an_answer_approved_meanwhile_stays_approved_and_searchable_as_edited(network: Runtime) -> None:
    rt = network
    solution_id = rt.knowledge.save_answer(saved_by="test:ANA", **SAVED)
    form = form_of(rt, solution_id)
    rt.knowledge.approve(solution_id, "test:ANN")
    boss = TestAdapter(rt.bot, user="BOSS")
    click(boss, EDIT_SUBMIT, f"solution:{solution_id}",
          **submitted(form, title="Urban beekeeping jobs on public roofs")) \
        .assert_reply("(title changed). It is searchable with its new text.")
    assert rt.knowledge.get(solution_id).status == "approved"
    found = rt.knowledge.ask("rooftop beekeeping cooperative honey").results[0]
    assert (found.id, found.title) == (solution_id, "Urban beekeeping jobs on public roofs")


def test_history_pages_like_pending(network: Runtime) -> None:
    rt = network
    solution_id = rt.knowledge.save_answer(saved_by="test:ANA", **SAVED)
    for n in range(12):
        rt.knowledge.edit(solution_id, "test:BOSS", title=f"Rooftop beekeeping, version {n}")
    boss = TestAdapter(rt.bot, user="BOSS")
    first = say(boss, f"history {solution_id}")
    first.assert_reply("(13 step(s)", "Page 1 of 2", f"`history {solution_id} 2` for the next", "saved by test:ANA")
    first.assert_no_reply("version 11")
    buttons = [b.value for block in first.blocks(Actions) for b in block.buttons]
    assert buttons == [f"history {solution_id} 2"]
    second = click(boss, "list_page", buttons[0])
    second.assert_reply("Page 2 of 2", "version 11").assert_no_reply("saved by")
    say(boss, f"history {solution_id} 3").assert_error().assert_reply("There is no page 3")


# -- Slack: the real slack-bolt app over signed HTTP, against the fake Slack ------------------------------------------

@pytest.fixture
def slack(serve_slack, fake: FakeSlack, seeded_dir: Path) -> ServedSlack:
    return serve_slack(slack_settings(seeded_dir, fake, RRR_BOT__COORDINATORS='["slack:U0BOSS"]'))


def open_edit_form(slack: ServedSlack, solution_id: str, user: str = "U0BOSS", count: int = 1, **kw) -> dict:
    """Click Edit as ``user``; the ``count``-th form opened (``views.open``), checked against Slack's limits."""
    _, sent = slack.click(EDIT, f"solution:{solution_id}", user=user, **kw)
    assert sent.status == 200
    view = slack.fake.wait_for("views.open", count)[count - 1].view
    assert_modal(view)
    return view


def test_slack_edit_opens_a_prefilled_form_and_its_submission_is_kept_in_the_history(slack: ServedSlack) -> None:
    kb = slack.runtime.knowledge
    solution_id = kb.save_answer(saved_by="slack:U0ANA", source_url="https://example.org/bees", **SAVED)
    view = open_edit_form(slack, solution_id)
    prefilled = {block: initial for block, (_, _, initial) in input_values(view).items()}
    assert prefilled == {"title": SAVED["title"], "challenge": SAVED["title"], "summary": SAVED["summary"],
                         "source_url": "https://example.org/bees", "tags": None}
    summary = SAVED["summary"] + " 40 hives on 12 roofs."
    sent = slack.sender.interactive(view_submission(view, {"summary": summary, "tags": "food, jobs"},
                                                    user="U0BOSS"))
    assert sent.status == 200 and not sent.body  # a plain ack closes the form
    [told] = slack.posts("C0GENERAL", method="chat.postEphemeral")
    assert f"Edited `{solution_id}` (summary, tags changed). It still waits for review." in told.text
    assert told.params["user"] == "U0BOSS"
    solution = kb.get(solution_id)
    assert (solution.status, solution.summary, solution.tags) == ("pending", summary, ["food", "jobs"])
    last = kb.history(solution_id)[-1]
    assert (last.action, last.changed_by, sorted(last.changes)) == ("edited", "slack:U0BOSS", ["summary", "tags"])
    # `/rrr history ID`: the coordinator reads the same steps in chat
    name, _ = slack.command(f"history `{solution_id.upper()}`", user="U0BOSS")  # as pasted, any case
    [history] = slack.fake.wait_for_response(name)
    assert "saved by slack:U0ANA" in history.text and "edited by slack:U0BOSS" in history.text, history.text


def test_slack_edit_is_refused_to_members_at_the_click_and_at_the_submission(slack: ServedSlack) -> None:
    kb = slack.runtime.knowledge
    solution_id = kb.save_answer(saved_by="slack:U0ANA", **SAVED)
    _, sent = slack.click(EDIT, f"solution:{solution_id}", user="U0EVE")
    assert sent.status == 200
    [refused] = slack.posts("C0GENERAL", method="chat.postEphemeral")
    assert "Only coordinators can edit" in refused.text and refused.params["user"] == "U0EVE"
    slack.fake.assert_quiet("views.open", 0.5)  # nothing opened
    # Eve replays the coordinator's form as her own submission
    view = open_edit_form(slack, solution_id)
    slack.sender.interactive(view_submission(view, {"title": "Eve's hives"}, user="U0EVE"))
    refusal = slack.posts("C0GENERAL", count=2, method="chat.postEphemeral")[1]
    assert "Only coordinators can edit" in refusal.text and refusal.params["user"] == "U0EVE"
    assert kb.get(solution_id).title == SAVED["title"] and len(kb.history(solution_id)) == 1


def test_slack_edit_form_marks_bad_fields_and_says_when_the_answer_is_gone(slack: ServedSlack) -> None:
    kb = slack.runtime.knowledge
    solution_id = kb.save_answer(saved_by="slack:U0ANA", **SAVED)
    view = open_edit_form(slack, solution_id)
    sent = slack.sender.interactive(view_submission(view, {"title": "", "summary": "x" * 3001,
                                                           "source_url": "ftp://nowhere"}, user="U0BOSS"))
    assert sent.status == 200
    assert sent.json["response_action"] == "errors"
    assert sent.json["errors"] == {"title": "Title cannot be empty.",
                                   "summary": "What was done, with figures: at most 3,000 characters (this has "
                                              "3,001).",
                                   "source_url": "Give an http(s) link, or leave it empty."}
    assert len(kb.history(solution_id)) == 1
    kb.reject(solution_id, "slack:U0BOSS")  # rejected meanwhile (from another form, another coordinator ...)
    slack.sender.interactive(view_submission(view, {"title": "Too late"}, user="U0BOSS"))
    [gone] = slack.posts("C0GENERAL", method="chat.postEphemeral")
    assert f"`{solution_id}` was rejected on" in gone.text and "nothing to edit" in gone.text
    slack.click(EDIT, f"solution:{solution_id}", user="U0BOSS")
    assert "was rejected" in slack.posts("C0GENERAL", count=2, method="chat.postEphemeral")[1].text
    slack.fake.assert_quiet("views.open", 0.5, count=1)  # only the first form ever opened


def test_slack_app_home_offers_edit_and_its_form_answers_in_the_dm(slack: ServedSlack) -> None:
    kb = slack.runtime.knowledge
    solution_id = kb.save_answer(saved_by="slack:U0ANA", **SAVED)
    event = {"type": "app_home_opened", "user": "U0BOSS", "channel": "D0BOSS", "tab": "home", "event_ts": next_ts()}
    assert slack.sender.event(event_callback(event)).status == 200
    [home] = slack.fake.wait_for("views.publish")
    labels = [e["text"]["text"] for b in home.view["blocks"] if b["type"] == "actions" for e in b["elements"]
              if e.get("value") == f"solution:{solution_id}"]
    assert labels == ["Approve", "Edit", "Reject"]
    # a click on the App Home: a view, no channel; the form opens, the answer goes to the coordinator's DM
    payload = block_action(EDIT, f"solution:{solution_id}", response_url=slack.fake.response_url("home"),
                           user="U0BOSS", container_type="view")
    payload.pop("channel"), payload.pop("message"), payload.pop("response_url")
    payload["view"] = {"id": "V0HOME", "type": "home", "blocks": home.view["blocks"]}
    assert slack.sender.interactive(payload).status == 200
    view = slack.fake.wait_for("views.open")[0].view
    slack.sender.interactive(view_submission(view, {"title": "Bilbao rooftop honey cooperative"}, user="U0BOSS"))
    [told] = slack.posts("U0BOSS")
    assert f"Edited `{solution_id}` (title changed)" in told.text
    assert kb.get(solution_id).title == "Bilbao rooftop honey cooperative"
