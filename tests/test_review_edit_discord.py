"""The review's Edit button on Discord (#16 review queue): the real discord.py client against the fake Discord. The
click opens a modal prefilled with the saved answer (a type-9 callback); its submission (a MODAL_SUBMIT interaction)
writes the changes as the coordinator's, kept in the history; members get a private refusal and nothing opens."""

from __future__ import annotations



from bot import Runtime
from discord_fake import (COORDINATOR_ID, DEFERRED_CHANNEL_MESSAGE, EPHEMERAL, MEMBER_ID, MODAL, PEER_ID,
                          FakeDiscord, Request, custom_ids, modal_inputs)
from discord_harness import (Served, discord_settings, fake, fake_discord,  # noqa: F401  (fixtures)
                             restore_discord_endpoints, rt, served, settings)

ANSWER = 30.0
SAVED = dict(title="Rooftop beekeeping cooperative", city="Bilbao", country="Spain",
             summary="Unemployed residents run hives on public roofs and sell the honey as a cooperative.")




def coordinator_home(fake: FakeDiscord) -> dict:
    """The coordinator's ``/home`` (private), as the message object its buttons are clicked on."""
    home = fake.slash("home", user_id=COORDINATOR_ID)
    (shown,) = fake.wait_followups(home, timeout=ANSWER)
    return fake.response_message(shown)


def private(request: Request) -> bool:
    return bool(int(request.body.get("flags") or 0) & EPHEMERAL)


def open_form(fake: FakeDiscord, home: dict, solution_id: str) -> dict:
    click = fake.click(home, f"rrr:review_edit:solution:{solution_id}", user_id=COORDINATOR_ID)
    callback = fake.wait_callback(click, timeout=ANSWER)
    assert callback.body["type"] == MODAL, callback
    return callback.data


def test_discord_edit_opens_a_prefilled_modal_and_the_change_is_kept_in_the_history(
        served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    kb = rt.knowledge
    solution_id = kb.save_answer(saved_by=f"discord:{PEER_ID}", **SAVED)
    home = coordinator_home(fake)
    ids = custom_ids(home.get("components") or [])
    assert [i.rpartition(":solution:")[0] for i in ids if i.endswith(f":solution:{solution_id}")] == \
        ["rrr:review_approve", "rrr:review_edit", "rrr:review_reject"]
    modal = open_form(fake, home, solution_id)
    assert modal["custom_id"] == f"rrr-modal:edit:{solution_id}" and modal["title"] == "Edit saved answer"
    prefilled = {i["label"]: i.get("value") for i in modal_inputs(modal)}
    assert prefilled == {"Title": SAVED["title"], "The challenge it answered": SAVED["title"],
                         "What was done, with figures": SAVED["summary"], "Source link": None,
                         "Tags, separated by commas": None}
    submit = fake.submit(modal, {"Title": "Bilbao rooftop honey cooperative", "Tags, separated by commas": "Food"},
                         user_id=COORDINATOR_ID)
    (told,) = fake.wait_followups(submit, timeout=ANSWER)
    assert private(told) and f"Edited `{solution_id}` (title, tags changed). It still waits for review." in told.text
    solution = kb.get(solution_id)
    assert (solution.status, solution.title, solution.summary, solution.tags) == (
        "pending", "Bilbao rooftop honey cooperative", SAVED["summary"], ["food"])
    last = kb.history(solution_id)[-1]
    assert (last.action, last.changed_by) == ("edited", f"discord:{COORDINATOR_ID}")
    assert last.changes == {"title": [SAVED["title"], "Bilbao rooftop honey cooperative"], "tags": [[], ["food"]]}


def test_discord_edit_is_refused_to_members_and_bad_values_get_a_private_reply(
        served: Served, fake: FakeDiscord, rt: Runtime) -> None:
    kb = rt.knowledge
    solution_id = kb.save_answer(saved_by=f"discord:{PEER_ID}", **SAVED)
    home = coordinator_home(fake)
    # a member clicks the button of a message they were shown (or forged): a private refusal, no modal
    click = fake.click(home, f"rrr:review_edit:solution:{solution_id}", user_id=MEMBER_ID)
    assert fake.wait_callback(click, timeout=ANSWER).body["type"] == DEFERRED_CHANNEL_MESSAGE
    (refused,) = fake.wait_followups(click, timeout=ANSWER)
    assert private(refused) and "Only coordinators can edit" in refused.text
    assert not [c for c in fake.calls("callback") if c.body.get("type") == MODAL]
    # the coordinator's form, submitted by the member: refused too
    modal = open_form(fake, home, solution_id)
    submit = fake.submit(modal, {"Title": "Mine now"}, user_id=MEMBER_ID)
    (refusal,) = fake.wait_followups(submit, timeout=ANSWER)
    assert private(refusal) and "Only coordinators can edit" in refusal.text
    # an empty title (Discord's client would stop it; a crafted submission does not): a polite private reply
    submit = fake.submit(modal, {"Title": ""}, user_id=COORDINATOR_ID)
    (empty,) = fake.wait_followups(submit, timeout=ANSWER)
    assert private(empty) and "Title cannot be empty. Nothing was changed." in empty.text
    assert kb.get(solution_id).title == SAVED["title"] and len(kb.history(solution_id)) == 1
    # rejected meanwhile: the form's submission says so
    kb.reject(solution_id, "discord:other")
    submit = fake.submit(modal, {"Title": "Too late"}, user_id=COORDINATOR_ID)
    (gone,) = fake.wait_followups(submit, timeout=ANSWER)
    assert private(gone) and f"`{solution_id}` was rejected on" in gone.text
    assert "Traceback" not in gone.text and "went wrong" not in gone.text
