"""Slack modals: "what was missing?" after Not helpful, "Save as solution", "Schedule a session", the App Home's
"Ask the network", and the review's "Edit saved answer" (drawn from the core's :class:`~bot.review.EditForm`)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from bot.review import EditForm
from bot.sessions.draft import FIELDS, SessionDraft, read_fields

from .render import trim

NOT_HELPFUL = "not_helpful_modal"
SAVE_SOLUTION = "save_solution_modal"
SESSION_ADD = "session_add_modal"
HOME_ASK = "home_ask_modal"
SESSION_CONFIRM = "session_confirm_modal"
REVIEW_EDIT = "review_edit_modal"
#: The longest value a Slack text input takes.
INPUT_MAX = 3000

#: Repeat choices: (value of the draft's ``repeat``, label).
REPEATS: tuple[tuple[str, str], ...] = (("none", "Once"), ("weekly", "Every week"),
                                        ("every 2 weeks", "Every 2 weeks"), ("monthly", "Monthly (same weekday)"))
#: The input of the session form that marks an error about each of the core's session fields (those not listed,
#: such as ``channels``, are not on the form: their error replaces the form).
_FIELD_INPUTS = {"title": "title", "start": "date", "tz": "tz", "repeat": "repeat", "count": "count",
                 "duration": "duration", "video": "video", "agenda": "agenda"}


def not_helpful_modal(question_id: str, channel: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": NOT_HELPFUL,
        "private_metadata": json.dumps({"question_id": question_id, "channel": channel}),
        "title": {"type": "plain_text", "text": "Not helpful"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [_input("reason", "What was missing?", "", multiline=True, optional=True, max_length=2000)],
    }


def ask_modal() -> dict[str, Any]:
    """The App Home's "Ask a question": one question; the answer comes in the app's Messages tab."""
    return {
        "type": "modal",
        "callback_id": HOME_ASK,
        "title": {"type": "plain_text", "text": "Ask the network"},
        "submit": {"type": "plain_text", "text": "Ask"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [_input("question", "Your question, in any language", "", multiline=True, max_length=2000),
                   {"type": "context", "elements": [{"type": "mrkdwn", "text": "The answer comes in the Messages "
                                                                               "tab of this app."}]}],
    }


def save_solution_modal(*, title: str, city: str, country: str, summary: str, source_url: str,
                        question_id: str | None, channel: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": SAVE_SOLUTION,
        "private_metadata": json.dumps({"question_id": question_id, "channel": channel}),
        "title": {"type": "plain_text", "text": "Save as solution"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input("title", "Title", trim(title, 150), max_length=150),
            _input("city", "City", trim(city, 120), max_length=120),
            _input("country", "Country (if the city is not in the network)", trim(country, 120), optional=True,
                   max_length=120),
            _input("summary", "What was done, with figures", trim(summary, 3000), multiline=True, max_length=3000),
            _input("source_url", "Source link", trim(source_url, 1000), optional=True, max_length=1000),
        ],
    }


def edit_modal(form: EditForm, *, channel: str) -> dict[str, Any]:
    """The review's Edit form: one input per field the core offers, prefilled (a block id is the field's name, so
    the core's problems mark their input); the answer's id, the channel clicked in and the fingerprint of the values
    shown travel in ``private_metadata``."""
    lead = f"Editing `{form.solution_id}`. Your changes are kept in its history (`history {form.solution_id}`)."
    blocks: list[dict[str, Any]] = [{"type": "context", "elements": [{"type": "mrkdwn", "text": trim(lead, 3000)}]}]
    blocks += [_input(i.name, i.label, i.value, multiline=i.multiline, optional=not i.required,
                      max_length=min(i.max_length, INPUT_MAX)) for i in form.inputs]
    if form.note:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": trim(form.note, 3000)}]})
    return {
        "type": "modal",
        "callback_id": REVIEW_EDIT,
        "private_metadata": json.dumps({"solution": form.solution_id, "channel": channel, "seen": form.seen}),
        "title": {"type": "plain_text", "text": "Edit saved answer"},
        "submit": {"type": "plain_text", "text": "Save changes"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def session_modal(*, channel: str, zones: list[tuple[str, tuple[str, ...]]], zone: str | None = None
                  ) -> dict[str, Any]:
    """The "Schedule a session" form offering ``zones`` (the network's, :meth:`bot.Bot.session_zones`); ``zone``
    (the member's own Slack zone) is preselected, and offered first when it is none of them."""
    if zone and zone not in {name for name, _ in zones}:  # the member's own zone is offered too, first
        zones = [(zone, ()), *zones][:100]
    zones_offered = [_option(name, zone_label(name, cities)) for name, cities in zones]
    repeats = [_option(value, label) for value, label in REPEATS]
    tz_element: dict[str, Any] = {"type": "static_select", "action_id": "tz", "options": zones_offered,
                                  "placeholder": {"type": "plain_text", "text": "Choose a time zone"}}
    chosen = next((o for o in zones_offered if o["value"] == zone), None)
    if chosen is not None:
        tz_element["initial_option"] = chosen
    return {
        "type": "modal",
        "callback_id": SESSION_ADD,
        "private_metadata": json.dumps({"channel": channel}),
        "title": {"type": "plain_text", "text": "Schedule a session"},
        "submit": {"type": "plain_text", "text": "Schedule"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _input("title", "Title", "", max_length=200),
            _block("date", "Date", {"type": "datepicker", "action_id": "date"}),
            _block("time", "Start time (in the zone below)", {"type": "timepicker", "action_id": "time"}),
            _block("tz", "Time zone", tz_element),
            _block("repeat", "Repeat", {"type": "static_select", "action_id": "repeat", "options": repeats,
                                        "initial_option": repeats[0]}),
            _block("count", "How many times (a repeating session)",
                   {"type": "number_input", "action_id": "count", "is_decimal_allowed": False, "min_value": "1",
                    "max_value": "500"}, optional=True),
            _block("duration", "Duration (minutes)",
                   {"type": "number_input", "action_id": "duration", "is_decimal_allowed": False,
                    "initial_value": "60", "min_value": "5", "max_value": "1440"}),
            _block("video", "Video call link", {"type": "url_text_input", "action_id": "video"}, optional=True),
            _input("agenda", "Agenda", "", multiline=True, optional=True, max_length=3000),
        ],
    }


def zone_label(zone: str, cities: tuple[str, ...]) -> str:
    """``Europe/Madrid (Bilbao, Valencia)``: a zone named with its cities, within a select option's 75 characters."""
    return trim(f"{zone} ({', '.join(cities)})" if cities else zone, 75)


def notice_modal(title: str, text: str) -> dict[str, Any]:
    """A modal that only says something (what replaces a form the core refused as a whole)."""
    return {"type": "modal", "title": {"type": "plain_text", "text": trim(title, 24)},
            "close": {"type": "plain_text", "text": "Close"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": trim(text, 3000) or " "}}]}


def session_draft(values: dict[str, str], channel: str) -> SessionDraft:
    """The session a submitted form asks for: each input whose block id names a :class:`SessionDraft` field is read
    as that field reads text (the date and time pickers make the start), announced in ``channel``."""
    texts = {name: value for name, value in values.items() if name in FIELDS and value}
    texts["start"] = f"{values.get('date', '')}T{values.get('time', '')}"
    if texts.get("repeat") == "none":
        del texts["repeat"]
    return replace(SessionDraft(**read_fields(texts)), channels=(f"slack:{channel}",))


def confirm_modal(blocks: list[dict[str, Any]], *, draft: str, channel: str) -> dict[str, Any]:
    """The form's second step: the session as the core read it (``blocks``, without buttons); "Schedule" saves it,
    "Back" returns to the form."""
    return {"type": "modal", "callback_id": SESSION_CONFIRM,
            "private_metadata": json.dumps({"draft": draft, "channel": channel}),
            "title": {"type": "plain_text", "text": "Confirm the session"},
            "submit": {"type": "plain_text", "text": "Schedule"},
            "close": {"type": "plain_text", "text": "Back"},
            "blocks": [b for b in blocks if b.get("type") != "actions"] or
            [{"type": "section", "text": {"type": "mrkdwn", "text": " "}}]}


def error_input(field: str | None) -> str | None:
    """The session form's input to mark for an error about the core's ``field`` (None: not on the form)."""
    return _FIELD_INPUTS.get(field or "")


def values(view: dict[str, Any]) -> dict[str, str]:
    """The submitted value of every input, by action id."""
    out: dict[str, str] = {}
    for block in view.get("state", {}).get("values", {}).values():
        for action_id, state in block.items():
            option = state.get("selected_option") or {}
            value = state.get("value") or state.get("selected_date") or state.get("selected_time") or \
                option.get("value") or ""
            out[action_id] = str(value).strip()
    return out


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _input(action_id: str, label: str, initial: str, *, multiline: bool = False, optional: bool = False,
           max_length: int = 3000) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": action_id, "multiline": multiline,
                               "max_length": max_length}
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": action_id, "optional": optional, "element": element,
            "label": {"type": "plain_text", "text": label}}


def _block(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False) -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "optional": optional, "element": element,
            "label": {"type": "plain_text", "text": label}}


def _option(value: str, label: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": trim(label, 75)}, "value": value}
