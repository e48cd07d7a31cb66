"""Tests of the PDF editions (`make pdf`, `make pdf-student`), read with poppler's tools.

`make test` does not build the PDF: every test that reads it is marked `pdf` and skips, with the reason,
when `_build/latex/<name>.pdf` (or poppler) is missing. Run them with
`make pdf && .venv/bin/pytest -m pdf tests/test_pdf.py`.

What a reader needs must survive the trip through LaTeX: every part and chapter title, theorem and exercise
blocks (with solutions in the instructor's edition only), every figure, numbered equations and resolved
references, citations and the bibliography, glued numbers, Unicode names, code wrapped to the page, embedded
fonts. Prose (text in a proportional font) must show no raw TeX or MyST markup; code (monospaced) legitimately
holds TeX in its plot labels, so the two are told apart by font with `pdftohtml -xml`.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
NAME = Path(CONFIG["latex"]["latex_documents"]["targetname"]).stem
PDF = ROOT / "_build" / "latex" / f"{NAME}.pdf"
STUDENT_PDF = ROOT / "_build" / "latex" / f"{NAME}-student.pdf"
POPPLER = ("pdftotext", "pdfinfo", "pdffonts", "pdfimages", "pdftohtml")
# executed notebooks of the PDF build (the HTML build's as a fallback): the figures a reader must find
EXECUTED = [ROOT / "_build" / "pdf" / "_build" / "jupyter_execute", ROOT / "_build" / "jupyter_execute"]


def _skip_reason(pdf: Path, make: str) -> str | None:
    missing = [tool for tool in POPPLER if shutil.which(tool) is None]
    if missing:
        return f"poppler-utils missing ({', '.join(missing)}): apt-get install poppler-utils"
    if not pdf.exists():
        return f"{pdf.relative_to(ROOT)} not built (run `{make}`; `make test` does not build the PDF)"
    return None


pdf_built = pytest.mark.skipif(
    _skip_reason(PDF, "make pdf") is not None, reason=_skip_reason(PDF, "make pdf") or ""
)
student_built = pytest.mark.skipif(
    _skip_reason(STUDENT_PDF, "make pdf-student") is not None,
    reason=_skip_reason(STUDENT_PDF, "make pdf-student") or "",
)


def _run(*cmd: str | Path) -> str:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True).stdout


def _squash(text: str) -> str:
    """One line, single spaces, words hyphenated at a line end joined again, typographic quotes plain."""
    text = re.sub(r"(\w)-\n(\w)", r"\1\2", text)
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    return " ".join(text.split())


@functools.cache
def _text(pdf: Path) -> str:
    return _squash(_run("pdftotext", "-enc", "UTF-8", pdf, "-"))


@functools.cache
def _prose_and_code(pdf: Path) -> tuple[str, str]:
    """(prose, code): the PDF's text split by font, monospaced fonts being code and program output."""
    root = ET.fromstring(_run("pdftohtml", "-xml", "-i", "-stdout", "-q", pdf))
    mono = {
        f.get("id") for f in root.iter("fontspec") if re.search(r"mono|courier", f.get("family", ""), re.I)
    }
    prose, code = [], []
    for page in root.iter("page"):
        for t in page.iter("text"):
            (code if t.get("font") in mono else prose).append("".join(t.itertext()))
    return _squash("\n".join(prose)), _squash("\n".join(code))


def _markdown_title(text: str) -> str:
    m = re.search(r"^# (.+)$", text, flags=re.M)
    assert m, "no H1 title"
    return m.group(1).strip()


def _toc() -> tuple[list[str], list[Path], list[Path]]:
    """(part captions, page sources with the root page first, sources of the numbered chapters), in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))

    def source(f: str) -> Path:
        hits = [ROOT / f"{f}{ext}" for ext in (".ipynb", ".md") if (ROOT / f"{f}{ext}").exists()]
        assert hits, f"{f} in _toc.yml has no source"
        return hits[0]

    captions, sources, numbered = [], [source(toc["root"])], []
    for part in toc.get("parts", []):
        captions.append(part["caption"])
        pages = [source(entry["file"]) for entry in part.get("chapters", [])]
        sources += pages
        numbered += pages if part.get("numbered") else []
    return captions, sources, numbered


def _title(source: Path) -> str:
    if source.suffix == ".ipynb":
        nb = json.loads(source.read_text(encoding="utf-8"))
        text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    else:
        text = source.read_text(encoding="utf-8")
    return _markdown_title(text)


def _plain_title(title: str) -> str:
    """A heading as the PDF prints it: inline code and emphasis marks dropped."""
    return _squash(re.sub(r"[`*]", "", title))


def _chapters() -> list[Path]:
    return sorted((ROOT / "chapters").glob("*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _count_directive(name: str) -> int:
    pattern = re.compile(r"^(`{3,}|:{3,})\{" + re.escape(name) + r"\}", flags=re.M)
    return sum(
        len(pattern.findall("".join(c["source"])))
        for p in _chapters()
        for c in _cells(p)
        if c["cell_type"] == "markdown"
    )


def _pages(pdf: Path) -> int:
    return int(re.search(r"^Pages:\s+(\d+)", _run("pdfinfo", pdf), flags=re.M).group(1))


# ----------------------------------------------------------------------------------------- instructor's PDF


@pytest.mark.pdf
@pdf_built
def test_page_count_is_sane():
    # Measured 2026: about 15-20 pages per chapter. A PDF with a chapter missing or a run-away verbatim block
    # leaves this range; the bounds are wide enough for chapters to grow and shrink.
    sources = _toc()[1]
    pages = _pages(PDF)
    assert 5 * len(sources) <= pages <= 60 * len(sources), (
        f"{pages} pages for {len(sources)} pages of the book"
    )


@pytest.mark.pdf
@pdf_built
def test_every_part_and_chapter_title_is_present():
    # once in the table of contents and once as a heading (chapter headings are set in capitals)
    text = _text(PDF).lower()
    captions, sources, _ = _toc()
    for caption in captions:
        assert text.count(caption.lower()) >= 2, f"part {caption!r} is missing"
    for source in sources[1:]:
        title = _plain_title(_title(source)).lower()
        assert text.count(title) >= 2, f"title {title!r} of {source.relative_to(ROOT)} is missing"


@pytest.mark.pdf
@pdf_built
def test_chapters_are_numbered_like_the_html_book():
    # running heads read "Chapter N. Title", N counting the numbered parts' chapters as the HTML book does;
    # the unnumbered parts after them are the appendix, lettered
    text = _text(PDF)
    _, sources, numbered = _toc()
    for number, source in enumerate(numbered, start=1):
        head = f"Chapter {number}. {_plain_title(_title(source))}"
        assert head in text, f"no running head {head!r}"
    appendix = sources[sources.index(numbered[-1]) + 1 :]
    if appendix:
        head = f"Appendix A. {_plain_title(_title(appendix[0]))}"
        assert head in text, f"the appendix is not lettered: no {head!r}"


@pytest.mark.pdf
@pdf_built
def test_prose_has_no_raw_tex_or_myst_markup():
    prose, _ = _prose_and_code(PDF)
    for marker in (
        "{prf:",
        "{glue",
        "{cite",
        "{numref",
        "{ref}",
        "{doc}",
        "{eq}",
        "{exercise",
        "{solution",
        "{figure",
        "{math}",
        "```",
        ":::",
        "$$",
    ):
        assert marker not in prose, f"raw MyST markup {marker!r} in the PDF's prose"
    tex = re.findall(r".{0,40}\\[A-Za-z]+\b.{0,20}", prose)
    assert not tex, f"raw TeX commands in the PDF's prose: {tex[:5]}"
    dollars = re.findall(r".{0,40}\$[^$\s][^$]{0,30}\$.{0,10}", prose)
    assert not dollars, f"unrendered $...$ math in the PDF's prose: {dollars[:5]}"


@pytest.mark.pdf
@pdf_built
def test_no_unresolved_references():
    prose, _ = _prose_and_code(PDF)
    hits = re.findall(r".{0,50}\?\?.{0,20}", prose)
    assert not hits, f"unresolved references (??) in the PDF: {hits[:5]}"


@pytest.mark.pdf
@pdf_built
def test_unicode_names_and_greek_letters_survive():
    # math letters come out as mathematical italics (U+1D6FC for alpha); NFKC folds them to Greek
    text = unicodedata.normalize("NFKC", _text(PDF))
    for word in ("Gürbüzbalaban", "Şimşekli", "α", "η", "σ"):
        assert word in text, f"{word!r} is missing from the PDF text"


@pytest.mark.pdf
@pdf_built
def test_theorem_definition_and_proof_blocks_are_rendered():
    # numbered by chapter as in the HTML book ("Theorem 5.1", not "Theorem 5.6.1")
    text = _text(PDF)
    for kind in ("definition", "theorem", "proposition", "proof"):
        n_source = _count_directive(f"prf:{kind}")
        if kind == "proof":
            n_pdf = len(re.findall(r"\bProof\.", text))
        else:
            n_pdf = len(set(re.findall(rf"\b{kind.capitalize()} (\d+\.\d+)(?![.\d])", text)))
        assert n_pdf >= n_source, f"{kind}: {n_source} in the chapters, {n_pdf} numbered in the PDF"


def _solution_blocks(pdf: Path) -> int:
    """Solution blocks: sphinx-exercise titles each one "Solution" on a line of its own in LaTeX."""
    raw = _run("pdftotext", "-enc", "UTF-8", pdf, "-")
    return len(re.findall(r"^Solution$", raw, flags=re.M))


@pytest.mark.pdf
@pdf_built
def test_exercises_and_their_solutions_are_present():
    text = _text(PDF)
    n_exercises = _count_directive("exercise")
    numbered = set(re.findall(r"\bExercise (\d+\.\d+)(?![.\d])", text))
    assert len(numbered) >= n_exercises, (
        f"{n_exercises} exercises in the chapters, {len(numbered)} in the PDF"
    )
    n_solutions = _count_directive("solution") + _count_directive("solution-start")
    found = _solution_blocks(PDF)
    assert found >= n_solutions, f"{n_solutions} solutions in the chapters, {found} in the PDF"


@pytest.mark.pdf
@pdf_built
def test_equations_are_numbered_and_citations_resolved():
    text = _text(PDF)
    assert re.search(r"Eq\. \(\d+\.\d+\)", text), "no numbered equation reference such as 'Eq. (1.2)'"
    assert re.search(r"\(\d+\.\d+\)", text), "no equation numbers"
    # author-year citations and the bibliography page
    assert re.search(r"Gürbüzbalaban et al\.?,? \[?2021", text) or "Gürbüzbalaban, Şimşekli" in text
    bib_title = _plain_title(_title(ROOT / "appendix" / "bibliography.md"))
    assert text.rfind(bib_title) > len(text) // 2, "no bibliography near the end of the book"


def _expected_figures() -> tuple[int, int]:
    """(images, captioned figures) the executed notebooks put on the page (hidden outputs excluded)."""
    folder = next((f for f in EXECUTED if f.exists()), None)
    if folder is None:
        pytest.skip("no executed notebooks (_build/pdf/_build/jupyter_execute): run make pdf")
    images = captioned = 0
    for path in sorted(folder.rglob("*.ipynb")):
        for cell in _cells(path):
            if cell["cell_type"] != "code":
                continue
            tags = set(cell.get("metadata", {}).get("tags", []))
            if tags & {"remove-output", "remove-cell", "hide-output"}:
                continue
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "image/png" in data or "image/jpeg" in data:
                    images += 1
                    captioned += "figure" in cell.get("metadata", {}).get("mystnb", {})
                elif "data:image/" in "".join(data.get("text/html", "")):
                    images += 1  # an animation player: its first frame goes into the PDF
    return images, captioned


@pytest.mark.pdf
@pdf_built
def test_every_figure_is_embedded_with_its_caption():
    images, captioned = _expected_figures()
    rows = _run("pdfimages", "-list", PDF).splitlines()[2:]
    embedded = sum(1 for row in rows if row.split()[2] == "image")
    assert embedded >= images, f"{images} figures in the executed notebooks, {embedded} images in the PDF"
    labels = set(re.findall(r"\bFig\. (\d+\.\d+)", _text(PDF)))
    assert len(labels) >= captioned, (
        f"{captioned} captioned figures, {len(labels)} numbered captions in the PDF"
    )


@pytest.mark.pdf
@pdf_built
def test_animation_has_a_static_frame_and_a_note():
    # pdf/pdf_edition.py puts the first frame of each animation player in the PDF, with a note
    _, code = _prose_and_code(PDF)
    assert "IPython.core.display.HTML object" not in code, "an HTML-only output fell back to its repr"
    text = _text(PDF)
    if _expected_figures()[0] and "to_jshtml" in "".join(p.read_text(encoding="utf-8") for p in _chapters()):
        assert re.search(r"Animation of \d+ frames in the HTML edition", text), "no note for the animation"


@pytest.mark.pdf
@pdf_built
def test_every_font_is_embedded():
    rows = _run("pdffonts", PDF).splitlines()[2:]
    assert rows, "pdffonts lists no fonts"
    # columns from the right: emb sub uni object ID (two fields)
    not_embedded = [row for row in rows if row.split()[-5] != "yes"]
    assert not not_embedded, f"fonts not embedded: {not_embedded}"


@pytest.mark.pdf
@pdf_built
def test_text_stays_inside_the_page():
    # every word (code and outputs included) ends left of the page edge less half the right margin
    root = ET.fromstring(
        re.sub(r"<!DOCTYPE[^>]*>|xmlns=\"[^\"]*\"", "", _run("pdftotext", "-bbox", PDF, "-"))
    )
    over = []
    for n, page in enumerate(root.iter("page"), start=1):
        limit = float(page.get("width")) - 0.5 * 2.2 / 2.54 * 72  # half the 2.2 cm margin, in points
        over += [(n, w.text) for w in page.iter("word") if float(w.get("xMax")) > limit]
    assert not over, f"{len(over)} words run into the right margin, e.g. {over[:5]}"


# ---------------------------------------------------------------------------------------------- student PDF


@pytest.mark.pdf
@student_built
def test_student_pdf_has_every_exercise_and_no_solution():
    text = _text(STUDENT_PDF)
    assert _solution_blocks(STUDENT_PDF) == 0, "a solution survived in the student PDF"
    numbered = set(re.findall(r"\bExercise (\d+\.\d+)(?![.\d])", text))
    assert len(numbered) >= _count_directive("exercise")
    assert "student edition" in text.lower()
    for source in _toc()[2]:
        head = _plain_title(_title(source))
        assert head.lower() in text.lower(), f"{source.name} is missing from the student PDF"


# -------------------------------------------------------------------------- the extension and the HTML link


def test_static_stand_in_takes_the_first_frame_and_counts_frames():
    import base64
    import sys

    sys.path.insert(0, str(ROOT / "pdf"))
    try:
        from pdf_edition import static_stand_in
    finally:
        sys.path.remove(str(ROOT / "pdf"))
    png = [base64.b64encode(bytes([0x89, 80, 78, 71, i])).decode() for i in range(3)]
    # matplotlib's to_jshtml continues long base64 strings with a backslash at each line end
    player = '<img id="anim" alt="tail index against eta">\n' + "".join(
        f'frames[{i}] = "data:image/png;base64,{p[:4]}\\\n{p[4:]}"\n' for i, p in enumerate(png)
    )
    content, ext, n_frames, alt = static_stand_in(player)
    assert (content, ext, n_frames, alt) == (bytes([0x89, 80, 78, 71, 0]), "png", 3, "tail index against eta")
    assert static_stand_in("<div>no image here</div>") is None


def test_html_book_links_the_pdf():
    page = ROOT / "_build" / "html" / "appendix" / "pdf.html"
    if not page.exists():
        pytest.skip("the HTML book is not built (make book)")
    assert f'href="../{NAME}.pdf"' in page.read_text(encoding="utf-8"), "the PDF page does not link the PDF"
