"""``rrr-bot member ...``: what the network holds about one person (README: Privacy)."""

from __future__ import annotations

from typing import Annotated

import typer

from .cli import JsonOpt, emit_json, fail, out, runtime

member_app = typer.Typer(help="Members' personal data (README: Privacy).", no_args_is_help=True)


@member_app.command("forget")
def member_forget(ctx: typer.Context,
                  member: Annotated[str, typer.Argument(help="The member as PLATFORM:USER_ID, e.g. slack:U0123ABC.",
                                                        metavar="PLATFORM:USER_ID")],
                  as_json: JsonOpt = False) -> None:
    """Delete a member's data in one transaction: their questions are anonymised (user id replaced, text kept);
    their feedback, RSVPs, places in introductions, the outbox messages addressed to them and their member row
    are removed. It cannot be undone; messages already delivered stay on the chat platform."""
    from bot.errors import InvalidInput
    from bot.services.privacy import Privacy, parse_identity

    try:
        platform, user_id = parse_identity(member)
    except InvalidInput as exc:
        fail(str(exc), 2)
    with runtime(ctx) as rt:
        done = Privacy(rt.db).forget(platform, user_id)
    if as_json:
        emit_json(done.as_dict())
        return
    other = "".join(f", {n} {table} row(s)" for table, n in done.other_rows.items())
    out.print(f"Forgot {platform}:{user_id}: member row {'removed' if done.member_removed else 'not found'}; "
              f"{done.questions_anonymised} question(s) anonymised (text kept); {done.feedback_removed} feedback, "
              f"{done.rsvps_removed} RSVP(s), {done.introductions_left} introduction place(s), "
              f"{done.outbox_removed} outbox message(s){other} removed.", markup=False, highlight=False)
