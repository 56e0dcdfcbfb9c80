"""The action ids of the core's buttons and forms, defined once: the core, its views and every adapter use these
names, never the strings.

The ids of a feature's own buttons live with the feature: :mod:`bot.review` (APPROVE, REJECT, EDIT, EDIT_SUBMIT),
:mod:`bot.paging` (PAGE_ACTIONS), :mod:`bot.sessions.confirmations` (CONFIRM, DISCARD), :mod:`bot.sessions.commands`
(RSVP_ACTIONS, ICS_ACTION) and :mod:`bot.home` (HOME_COMMANDS).
"""

from __future__ import annotations

FEEDBACK_HELPFUL = "feedback_helpful"
FEEDBACK_NOT_HELPFUL = "feedback_not_helpful"
"""Value: the question id; a form's ``reason`` field says what was missing."""
ASK_NETWORK = "ask_network"
"""Value: the question id; posts it to the network channel."""
SHARE_ANSWER = "share_answer"
"""Value: the question id; the answer, again, for the whole channel."""
SAVE_SOLUTION = "save_solution"
"""A form: title, city, country, summary, challenge, source_url (and question_id when saved from an answer)."""
SHOW_SOLUTION = "show_solution"
"""Value: the solution id; the whole record ("More")."""
INTRO_MET, INTRO_NOT_YET, INTRO_COULD_NOT = "intro_met", "intro_not_yet", "intro_could_not"
"""Value: the follow-up id of an introduction."""
INTRO_OUTCOMES = (INTRO_MET, INTRO_NOT_YET, INTRO_COULD_NOT)
OPEN_URL = "open_url"
"""A link button: the platform opens the address; nothing is answered."""
