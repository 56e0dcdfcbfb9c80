"""Run the five benchmarks (each in its own process) and write a Markdown table to benchmarks/results.md.

    python benchmarks/run_all.py        # or: make bench

The first run builds the cached 1k and 10k knowledge bases in /tmp/rrr-bench-<N> (10-20 minutes for 10k) and the
introductions network in /tmp/rrr-bench-intros (about 2 minutes); later runs reuse them.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results.md"
BENCHES = ("bench_ask", "bench_import", "bench_import_pdf", "bench_startup", "bench_intros")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(name: str, workdir: Path) -> tuple[dict, float]:
    out = workdir / f"{name}.json"
    start = time.perf_counter()
    print(f"\n== {name} ==", flush=True)
    done = subprocess.run([sys.executable, str(BENCH_DIR / f"{name}.py"), "--json-out", str(out)], cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"{name} failed with exit code {done.returncode}")
    return json.loads(out.read_text()), time.perf_counter() - start


def fmt(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "/s":
        return f"{value:.1f}/s"
    return f"{value:g}"


def rows(ask: dict, imp: dict, pdf: dict, start: dict, intros: dict) -> list[tuple[str, str, str, str, str, str]]:
    out = []
    for r in ask["sizes"]:
        n = f"{r['n'] // 1000}k"
        target = ask["target_ratio_p50"]
        out.append((f"ask p50, {n} solutions", fmt(r["ask_p50_ms"], "ms"), fmt(r["floor_p50_ms"], "ms"),
                    f"{r['ratio_p50']:.3f}", f"<= {target}", "pass" if r["ratio_p50"] <= target else "FAIL"))
        out.append((f"ask p99, {n} solutions", fmt(r["ask_p99_ms"], "ms"), fmt(r["floor_p99_ms"], "ms"),
                    f"{r['ratio_p99']:.3f}", "-", "info"))
        out.append((f"`ask -`, {r['questions']} questions piped, per question, {n} solutions",
                    fmt(r["batch_ask_ms"], "ms"), fmt(r["batch_floor_ms"], "ms"), f"{r['batch_ratio']:.3f}",
                    f"<= {target}", "pass" if r["batch_ratio"] <= target else "FAIL"))
    per = imp["passages"] / imp["n"]
    result = "pass" if imp["pass"] else "FAIL"
    out.append((f"import {imp['n']} solutions: solutions/s", fmt(imp["import_solutions_per_s"], "/s"),
                fmt(imp["floor_passages_per_s"] / per, "/s"), f"{imp['ratio']:.3f}", f">= {imp['target_ratio']}",
                result))
    out.append((f"import {imp['n']} solutions: passages/s", fmt(imp["import_passages_per_s"], "/s"),
                fmt(imp["floor_passages_per_s"], "/s"), f"{imp['ratio']:.3f}", f">= {imp['target_ratio']}", result))
    out.append((f"import a {pdf['pages']}-page PDF: passages/s", fmt(pdf["import_passages_per_s"], "/s"),
                fmt(pdf["floor_passages_per_s"], "/s"), f"{pdf['ratio']:.3f}", f">= {pdf['target_ratio']}",
                "pass" if pdf["pass"] else "FAIL"))
    cold, again = start["cold"], start["reopen"]
    n = f"{start['n'] // 1000}k"
    out.append((f"cold start `rrr-bot ask --json`, {n} (median of 5)", fmt(cold["cli_median_s"], "s"),
                fmt(cold["floor_median_s"], "s"), f"{cold['ratio']:.2f}", f"<= {cold['target_ratio']:g}",
                "pass" if cold["pass"] else "FAIL"))
    out.append((f"reopen {n} KB (Runtime.open + warm_up, median of 3)", fmt(again["reopen_median_s"], "s"),
                fmt(again["floor_median_s"], "s"), f"{again['ratio']:.2f}", "-", "info"))
    out.append((f"embed_passages calls on reopening {n}", str(again["embed_passages_calls"]), "-", "-", "= 0",
                "pass" if again["pass"] else "FAIL"))
    size = f"{intros['cities']:,} cities / {intros['members']:,} members"
    for kind in ("preview", "run"):
        out.append((f"intros {kind}, {size} (median of {intros['runs']})", fmt(intros[f"{kind}_median_s"], "s"),
                    fmt(intros["floor_median_s"], "s"), f"{intros[f'{kind}_ratio']:.2f}",
                    f"<= {intros['target_s']:g} s", "pass" if intros[f"{kind}_pass"] else "FAIL"))
    return out


def table(data: list[tuple[str, ...]]) -> str:
    header = ("figure", "measured", "floor", "ratio", "target", "result")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in data]
    return "\n".join(lines)


def main() -> None:
    started = dt.datetime.now().astimezone()
    load_before = loadavg()
    with tempfile.TemporaryDirectory(prefix="rrr-bench-") as tmp:
        results = {name: run(name, Path(tmp)) for name in BENCHES}
    ask, imp, pdf, start, intros = (results[name][0] for name in BENCHES)
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
    except OSError:
        commit = "?"
    body = table(rows(ask, imp, pdf, start, intros))
    ask_notes = []
    for r in ask["sizes"]:
        ask_notes.append(
            f"{r['n']} solutions (KB {'reused' if r['kb_reused'] else 'built'}): {r['answered']}/{r['questions']} "
            f"answered; CPU time a question (all threads) {r['ask_cpu_ms']} ms vs {r['floor_cpu_ms']} ms "
            f"(ratio {r['ratio_cpu']}); `ask -` runs {r['batch_ask_runs_ms']} vs floor {r['batch_floor_runs_ms']} "
            f"ms a question; load {r['load_average']}")
    notes = [
        "- ask: " + "; ".join(ask_notes),
        f"- import: `rrr-bot kb import` of {imp['passages']} passages {imp['import_runs_s']} s beside the bare "
        f"floor (bare_floor.py embed) {imp['floor_runs_s']} s, alternating; CPU time {imp['import_cpu_s']} s vs "
        f"{imp['floor_cpu_s']} s (ratio {imp['ratio_cpu']})",
        f"- import PDF: `rrr-bot kb import` of a {pdf['pages']}-page PDF ({pdf['words']} words, {pdf['passages']} "
        f"passages) {pdf['import_runs_s']} s beside the bare floor {pdf['floor_runs_s']} s, alternating; CPU time "
        f"{pdf['import_cpu_s']} s vs {pdf['floor_cpu_s']} s (ratio {pdf['ratio_cpu']}); reading the PDF into "
        f"passages {pdf['extract_read_document_s']} s (pypdf reader, warm, {pdf['extract_pypdf_warm_s']} s; the "
        f"extraction-only process {pdf['extract_runs_s']} s, {pdf['extract_cpu_s']} s CPU), the rest of the import "
        f"{pdf['rest_s']} s ({pdf['rest_cpu_s']} s CPU); load {pdf['load_average']}",
        f"- cold start runs: rrr-bot {start['cold']['cli_runs_s']} s, floor {start['cold']['floor_runs_s']} s",
        f"- reopen: {start['reopen']['embed_passages_texts']} passages embedded over {start['reopen']['reopens']} "
        f"reopens; first ask after reopen embedded {start['reopen']['first_ask_challenge_texts_embedded']} "
        "city challenge statements (closest cities, cached afterwards)",
        f"- intros: {intros['statements']} statements on {intros['kb']}; floor = city_similarity + plan_groups on "
        f"the same vectors; timed rounds exclude embedding (saved statement vectors injected, "
        f"{intros['embedded_in_timed_rounds']} embedded while timed); {intros['groups']} groups "
        f"({intros['trios']} trios), {intros['left_out']} left out, same plan as the floor: "
        f"{intros['same_plan_as_floor']}; run queued {intros['messages_queued']} messages; runs: preview "
        f"{intros['preview_runs_s']} s, run {intros['run_runs_s']} s, floor {intros['floor_runs_s']} s"
        + "".join(f"; one {kind} split by function ({p['split_s']} s, wall clock, nested): " + ", ".join(
            f"{h['function'].strip()} {h['s']} s" for h in p["split"] if h["s"] >= 0.05)
            for kind, p in intros["profiles"].items()),
        "- ops endpoints (bench_ops.py): " + run("bench_ops", Path(tempfile.gettempdir()))[0]["summary"],
        "- durations: " + ", ".join(f"{name} {results[name][1]:.0f} s" for name in BENCHES),
    ]
    header = (f"# Benchmark results\n\n{started:%Y-%m-%d %H:%M %Z} · {cpu_model()} · {os.cpu_count()} cores · "
              f"Python {platform.python_version()} · commit {commit or '?'} · load average {load_before} at start, "
              f"{loadavg()} at end\n")
    text = f"{header}\n{body}\n\n" + "\n".join(notes) + "\n"
    print("\n" + text)
    RESULTS.write_text(text)
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
