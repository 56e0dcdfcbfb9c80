"""Peer sessions, one feature in one package: what coordinators ask for and how it is stored, shown and reminded.

- :mod:`.draft`: :class:`~.draft.SessionDraft`, the typed request every way in builds (chat, Slack form, Discord
  options, CLI), each field reading its own text;
- :mod:`.service`: :class:`~.service.Sessions`, the use cases over the database (add, edit, cancel, RSVPs, the
  reminders that are due), taking drafts and returning data;
- :mod:`.views`: the only module here that builds :class:`~bot.messages.Reply` (the card, the reminder);
- :mod:`.commands`: the ``session`` chat command and the session buttons (a thin parser into the same drafts);
- :mod:`.confirmations`: a start typed in words is echoed and saved once confirmed;
- :mod:`.recurrence`, :mod:`.when`, :mod:`.calendars`: schedules and RRULEs, starts typed in words, iCalendar files
  and calendar links.
"""
