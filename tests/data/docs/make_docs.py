"""Write the test documents of this folder: a 30+ page PDF guide, a Word case study, a saved web page, and bad files.

The generated files are committed, so the tests need none of the generators. To write them again::

    pip install fpdf2 python-docx   # fpdf2 is needed by this script only
    python tests/data/docs/make_docs.py

Every text is written for these tests and describes invented towns (see guide_text.py).
"""

from __future__ import annotations

import io
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from guide_text import CHAPTERS, TITLE  # noqa: E402

FIXED = datetime(2024, 3, 1, tzinfo=timezone.utc)


def guide_pdf():
    """The guide as an fpdf2 document: a cover, a contents page, a divider page per chapter, a page per section,
    running header and footer, a drawn chart that pushes the end of a section onto the next page."""
    from fpdf import FPDF

    class Guide(FPDF):
        def header(self):
            if self.page_no() > 1:
                self.set_font("Helvetica", "I", 8)
                self.cell(0, 6, "Valmora Working Group - Community Energy Practice Guide", align="R")
                self.ln(10)

        def footer(self):
            if self.page_no() > 1:
                self.set_y(-15)
                self.set_font("Helvetica", "", 8)
                self.cell(0, 10, f"Page {self.page_no()}", align="C")

    pdf = Guide(format="A4")
    pdf.set_creation_date(FIXED)
    pdf.set_title(TITLE)
    pdf.set_author("Valmora Working Group (fictional)")
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 24)
    pdf.ln(60)
    pdf.multi_cell(0, 12, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(10)
    pdf.set_font("Helvetica", "", 12)
    pdf.multi_cell(0, 7, "A guide for municipal officers, written by the working group of the Valmora region. "
                         "Towns and figures are illustrative.", align="C")
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, "Contents", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    for chapter, sections in CHAPTERS:
        pdf.cell(0, 7, chapter, new_x="LMARGIN", new_y="NEXT")
        for section, _ in sections:
            pdf.cell(0, 6, "      " + section, new_x="LMARGIN", new_y="NEXT")
    for chapter, sections in CHAPTERS:
        pdf.add_page()
        pdf.start_section(chapter, level=0)
        pdf.set_font("Helvetica", "B", 20)
        pdf.ln(40)
        pdf.multi_cell(0, 10, chapter, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(6)
        pdf.set_font("Helvetica", "", 12)
        names = "; ".join(s for s, _ in sections)
        pdf.multi_cell(0, 7, f"This chapter covers: {names}.", new_x="LMARGIN", new_y="NEXT")
        for section, paragraphs in sections:
            pdf.add_page()
            pdf.start_section(section, level=1)
            pdf.set_font("Helvetica", "B", 15)
            pdf.multi_cell(0, 9, section, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
            pdf.set_font("Helvetica", "", 11)
            for number, paragraph in enumerate(paragraphs):
                pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(3)
                if section == "The revolving loan fund" and number == 1:
                    _chart(pdf)
    return pdf


def _chart(pdf) -> None:
    """A bar chart of drawn rectangles (no text layer beyond its caption) tall enough to fill the page."""
    top = pdf.get_y() + 5
    for i, height in enumerate((40, 70, 95, 120, 100, 130, 150, 160)):
        pdf.rect(30 + i * 18, top + 170 - height, 12, height, style="F")
    pdf.set_y(top + 175)
    pdf.set_font("Helvetica", "I", 9)
    pdf.multi_cell(0, 5, "Figure 1. Loans outstanding, 2016 to 2023.", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "", 11)


DOCX_TITLE = "Social Clauses in Public Procurement: The Lamarca Experience"
DOCX = [
    ("Heading 1", "Background"),
    ("Normal", "Lamarca is an invented town of 40,000 people used in this case study. Its council decided in 2018 that "
               "public contracts should help people far from the labour market find work, without closing the "
               "market to ordinary firms."),
    ("Heading 1", "The reserved contracts"),
    ("Normal", "The town reserved six small contracts a year for work integration social enterprises: park "
               "maintenance, the cleaning of two sports halls and the collection of bulky waste. Reserved contracts "
               "are open only to enterprises whose main aim is the social and professional integration of "
               "disadvantaged people."),
    ("Heading 2", "Park maintenance"),
    ("Normal", "The park maintenance contract, worth 180,000 euros a year, went to a cooperative that employs 14 "
               "people on integration contracts. Each worker receives a training plan and a mentor."),
    ("Heading 1", "Social clauses in open tenders"),
    ("Normal", "For larger contracts the town kept open tenders but added a clause: five percent of the working "
               "hours must be done by people referred by the employment service. Building firms met the clause "
               "by hiring apprentices for the duration of the works."),
    ("Heading 2", "Checking the clauses"),
    ("Normal", "A procurement officer checks the hours every quarter against payroll records. In 2022 two firms "
               "fell short and paid the penalty set in the contract, which was then used to fund a training course."),
    ("Heading 1", "Results"),
    ("Normal", "Between 2018 and 2023 the clauses and reserved contracts gave work to 212 people, 97 of whom were "
               "still employed a year after their contract ended. The town found that prices did not rise."),
]


def case_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = DOCX_TITLE
    document.core_properties.created = document.core_properties.modified = FIXED.replace(tzinfo=None)
    document.add_paragraph(DOCX_TITLE, style="Title")
    for style, text in DOCX:
        document.add_paragraph(text, style=style)
    document.save(path)


HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Repair cafes | Town of Ostrenz - official website</title>
<meta name="description" content="Repair cafes in Ostrenz">
</head><body>
<div class="cookie-banner">We use cookies to improve your experience. <a href="/cookies">Accept</a></div>
<header><a href="/">Town of Ostrenz</a>
<nav><ul><li><a href="/">Home</a></li><li><a href="/council">Council</a></li><li><a href="/services">Services</a></li>
<li><a href="/news">News</a></li><li><a href="/contact">Contact</a></li></ul></nav></header>
<div class="breadcrumbs"><a href="/">Home</a> &gt; <a href="/services">Services</a> &gt; Environment</div>
<aside><h3>Quick links</h3><ul><li><a href="/waste">Waste calendar</a></li><li><a href="/jobs">Jobs at the town hall</a>
</li><li><a href="/pay">Pay a bill online</a></li></ul></aside>
<main><article>
<h1>Repair cafes in Ostrenz</h1>
<p>Since 2019 the town of Ostrenz, an invented town used in these tests, has supported a network of repair cafes run by
a local association. Once a month, volunteers with skills in electronics, sewing and carpentry help residents repair
broken objects for free instead of throwing them away.</p>
<h2>How the town supports them</h2>
<p>The town lends rooms in three community centres free of charge and pays the association's insurance, about 1,200
euros a year. The waste department counts the objects repaired and publishes the figures in its yearly report.</p>
<h3>Tools and spare parts</h3>
<p>A grant of 8,000 euros bought a shared set of tools that travels between the centres. Spare parts are paid by the
residents at cost; a solidarity box covers them for people who cannot pay.</p>
<h2>Results</h2>
<p>In 2023 the repair cafes received 2,300 visitors and repaired 1,650 objects, about 70 percent of those brought in.
The association estimates that this avoided eleven tonnes of waste.</p>
<h2>Volunteer</h2>
<p>Anyone can join as a volunteer repairer or host. New volunteers shadow an experienced repairer for two sessions
before working on their own.</p>
</article></main>
<footer><p>Town of Ostrenz, Town Hall Square 1. Opening hours Monday to Friday 8:00 to 16:00.</p>
<p><a href="/privacy">Privacy</a> | <a href="/accessibility">Accessibility</a> | <a href="/cookies">Cookies</a></p>
<p>Copyright 2024 Town of Ostrenz. All rights reserved.</p></footer>
</body></html>
"""

NO_MAIN_TEXT_HTML = """<!DOCTYPE html><html><head><title>Ostrenz</title></head><body>
<nav><a href="/">Home</a> <a href="/news">News</a> <a href="/contact">Contact</a></nav>
<footer>Copyright 2024 Town of Ostrenz</footer></body></html>
"""


def bad_files(folder: Path) -> None:
    """Inputs each import must refuse with a one-line error."""
    from fpdf import FPDF

    folder.mkdir(exist_ok=True)
    locked = FPDF()
    locked.set_creation_date(FIXED)
    locked.set_encryption(owner_password="owner", user_password="secret")
    locked.add_page()
    locked.set_font("Helvetica", "", 12)
    locked.multi_cell(0, 7, "This page is readable only with the password.", new_x="LMARGIN", new_y="NEXT")
    locked.output(str(folder / "encrypted.pdf"))
    scanned = FPDF()
    scanned.set_creation_date(FIXED)
    for _ in range(2):  # pages with drawings only, as a scan without OCR has images only
        scanned.add_page()
        for i in range(20):
            scanned.rect(20, 20 + i * 12, 170, 6, style="F")
    scanned.output(str(folder / "scanned.pdf"))
    whole = guide_pdf().output()
    (folder / "truncated.pdf").write_bytes(bytes(whole[: len(whole) // 2]))
    (folder / "empty.pdf").write_bytes(b"")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "A zip archive renamed to .docx; it holds no Word document.")
    (folder / "not-word.docx").write_bytes(buffer.getvalue())
    (folder / "navigation-only.html").write_text(NO_MAIN_TEXT_HTML, encoding="utf-8")
    (folder / "slides.pptx").write_bytes(b"PK\x03\x04 not a supported format")


def main() -> None:
    guide_pdf().output(str(HERE / "community-energy-guide.pdf"))
    case_docx(HERE / "lamarca-social-clauses.docx")
    (HERE / "ostrenz-repair-cafes.html").write_text(HTML, encoding="utf-8")
    bad_files(HERE / "bad")
    print("wrote", ", ".join(sorted(p.name for p in HERE.rglob("*") if p.suffix in (".pdf", ".docx", ".html"))))


if __name__ == "__main__":
    main()
