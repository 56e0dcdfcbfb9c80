"""``rrr-bot insights report``: figures, coverage gaps and charts for coordinators, as Markdown, CSV and PNG files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer

from bot.errors import InvalidInput

from .cli import JsonOpt, emit_json, fail, out, runtime

#: ``bot.services.insights.MAX_WEEKS``, repeated so that the CLI starts without importing the insights (numpy,
#: matplotlib); tests/test_cold_start.py keeps the two equal.
MAX_WEEKS = 520

insights_app = typer.Typer(help="Insights for coordinators: figures per week and city, coverage gaps, charts.",
                           no_args_is_help=True)

OutDir = Annotated[Path, typer.Option("--out", "-o", help="Folder to write report.md, the CSV files and the PNG "
                                                          "charts into (created if missing).")]
Weeks = Annotated[int, typer.Option(min=1, max=MAX_WEEKS, help="How many ISO weeks, up to the current one.")]


@insights_app.command("report")
def insights_report(ctx: typer.Context, out_dir: OutDir, weeks: Weeks = 12, as_json: JsonOpt = False) -> None:
    """Write report.md (figures, coverage gaps, charts), one CSV per table and the PNG charts into --out.

    Files of the same names already in --out are replaced whole; if one of them is not a regular file (a link, a
    device, a pipe), nothing is written. The files name no person: questions appear by text, city and date only.
    """
    from bot.services.insights import Insights
    from bot.services.insights_charts import charts
    from bot.services.insights_report import report_files

    try:
        staging = stage(out_dir)  # fail before the slow part when the folder cannot be written
    except OSError as exc:
        fail(f"cannot write the report to {out_dir}: {_reason(exc)}")
    try:
        with runtime(ctx) as rt:
            report = Insights(rt.directory, rt.knowledge).report(weeks)
            files = report_files(report, charts(report))
        publish(staging, out_dir, files)
    except OSError as exc:
        fail(f"cannot write the report to {out_dir}: {_reason(exc)}")
    except InvalidInput as exc:
        fail(str(exc))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if as_json:
        emit_json({"out": str(out_dir), "files": sorted(files), **report.as_dict()})
        return
    totals = report.figures.totals
    others = sorted(name for name in files if name != "report.md")
    out.print(f"Wrote {out_dir / 'report.md'} and {len(others)} other files ({', '.join(others)}): "
              f"{report.figures.period}, {totals.questions} question(s), {report.gaps.questions} in coverage gaps "
              f"({report.gaps.groups} group(s)), {totals.introductions} introduction(s).", markup=False,
              highlight=False)


def stage(target: Path) -> Path:
    """A new empty folder beside ``target`` to write into first (the parents of ``target`` are created)."""
    if not target.name or target.name in (".", ".."):
        raise IsADirectoryError(0, "give a folder name, not a root or a relative marker")
    for path in (target, *target.parents):
        if path.exists():
            if not path.is_dir():
                raise NotADirectoryError(0, f"{path} is a file, not a folder")
            break
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    umask = os.umask(0o022)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp makes it private; the report folder gets the usual rights
    return staging


def publish(staging: Path, target: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into ``staging``, then move them into ``target`` so no reader sees a half-written report:
    a new ``target`` is the staging folder renamed at once; in an existing one each file is replaced whole, and
    only over a regular file (:class:`InvalidInput` otherwise, before any file is moved)."""
    for name, data in files.items():
        with open(staging / name, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    if not target.exists():
        try:
            os.replace(staging, target)
            return
        except OSError:
            if not target.is_dir():  # not a race with another writer: a real failure
                raise
    if not target.is_dir():
        raise NotADirectoryError(0, "it exists and is not a folder")
    from bot.services.safe_files import check_replaceable

    for name in files:  # all checked before the first is moved: no half-replaced report
        check_replaceable(target / name)
    probe = tempfile.NamedTemporaryFile(dir=target, prefix=".write-test.", delete=True)
    probe.close()  # the folder takes new files: moving ours in will not stop half-way for lack of rights
    for name in files:
        os.replace(staging / name, target / name)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
