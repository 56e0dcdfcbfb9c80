"""Slack modals: "what was missing?" after Not helpful, and "Save as solution"."""

from __future__ import annotations

import json
from typing import Any

from .render import trim

NOT_HELPFUL = "not_helpful_modal"
SAVE_SOLUTION = "save_solution_modal"


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


def values(view: dict[str, Any]) -> dict[str, str]:
    """The submitted value of every input, by action id."""
    out: dict[str, str] = {}
    for block in view.get("state", {}).get("values", {}).values():
        for action_id, state in block.items():
            out[action_id] = (state.get("value") or "").strip()
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
