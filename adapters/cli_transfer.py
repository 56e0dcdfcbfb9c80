"""``rrr-bot export FILE`` and ``rrr-bot import-all FILE``: the whole network in one file, for backups and moves."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .cli import JsonOpt, emit_json, err, fail, out, progress_bar, runtime


def export(ctx: typer.Context,
           file: Annotated[Path, typer.Argument(help="Where to write (JSON Lines; a .gz name compresses). An "
                                                "existing regular file is replaced; a link, a device or a pipe is "
                                                "refused.")],
           as_json: JsonOpt = False) -> None:
    """Write the whole network (cities, members, solutions, questions, feedback, introductions, sessions, RSVPs,
    the outbox) to one file; the file appears complete or not at all.

    It holds personal data (members' ids and names, their questions, feedback and RSVPs), so it is written with
    mode 0600: only its owner can read it. Keep it private (README: Privacy)."""
    from bot.services.transfer import export_network

    with runtime(ctx) as rt:
        try:
            summary = export_network(rt.db, file)
        except OSError as exc:
            fail(f"cannot write {file}: {exc.strerror or exc}")
    if as_json:
        emit_json({"file": str(file), "rows": summary.rows, "tables": summary.tables, "mode": "0600"})
        return
    out.print(f"Exported {summary.rows} rows to {file} (mode 0600, owner only: it holds personal data).",
              markup=False)


def import_all(ctx: typer.Context,
               file: Annotated[Path, typer.Argument(help="A file written by `rrr-bot export`.")],
               as_json: JsonOpt = False) -> None:
    """Load an export into an empty database (all or nothing), then rebuild the vector index from it."""
    from bot.services.transfer import import_network

    with runtime(ctx) as rt:
        with progress_bar("Importing rows") as progress:
            summary = import_network(rt.db, file, progress)
        err.print("Rebuilding the vector index from the imported passages...")
        rt.knowledge.warm_up()
    if as_json:
        emit_json({"file": str(file), "rows": summary.rows, "tables": summary.tables})
        return
    out.print(f"Imported {summary.rows} rows from {file}.", markup=False)
