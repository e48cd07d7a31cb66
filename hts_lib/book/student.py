"""The student edition: the book's notebooks with every solution removed and every exercise stub kept.

Run ``python -m hts_lib.book.student --out student`` (or ``make student``) from the repository root. It writes

- ``student/chapters/*.ipynb``: the chapters without solutions (hand these out), and
- ``student/book/``: a copy of the book sources using those notebooks, configured with sphinx-exercise's
  ``hide_solutions``; with ``--build`` it is also built (strictly, executing every chapter) into
  ``student/book/_build/html``.

The edition is generated, never committed: solutions live only in the instructor's book. A solution is

- a ``{solution}`` directive in a Markdown cell (removed whole), or
- everything between a ``{solution-start}`` and its ``{solution-end}`` (Markdown text and code cells alike),
  or
- any code cell tagged ``solution``.

Code cells tagged ``stub`` (the function a student completes) are kept as they are. Each student notebook
records its chapter in its metadata (``hts.chapter``), and its title cell says how to hand it in.

How students submit
-------------------
A student completes the stubs in the notebook they were given, keeping each function's name (the chapter's
text names it), runs the notebook from the top (Restart & Run All) to see that it runs and what the checks
say, saves it and hands in that one ``.ipynb`` file, under any file name; outputs may be kept or cleared. The
instructor collects the files in one folder and grades them with ``hts-grade FOLDER --out gradebook.csv``
(:mod:`hts_lib.book.grading`): it recognises the chapter from the notebook's title, re-runs the notebook in a
fresh kernel and runs every exercise's answer check on the student's function, whether or not the
``check(...)`` call was kept.
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

__all__ = ["strip_solutions", "make_student_edition", "main"]

_FENCE = r"(?P<fence>`{3,}|:{3,})"
_SOLUTION_BLOCK = re.compile(rf"^{_FENCE}\{{solution\}}.*?^(?P=fence)[ \t]*$\n?", re.S | re.M)
_GATE = re.compile(rf"^{_FENCE}\{{solution-(?P<kind>start|end)\}}.*?^(?P=fence)[ \t]*$\n?", re.S | re.M)
NOTE = (
    "\n\n```{note}\nStudent edition: the solutions are not included. Each coding exercise has an "
    "answer check: call `check(...)` as its text says.\n\n**To hand in:** complete the stubs (keep each "
    "function's name and this title), run the whole notebook from the top, save it and submit this one "
    "`.ipynb` file. It is graded by re-running it and checking each exercise's function.\n```\n"
)


def _split_markdown(text: str, inside: bool) -> tuple[str, bool]:
    """Remove gated solution text from one Markdown cell; return (kept text, still inside a gate)."""
    kept, pos = [], 0
    for m in _GATE.finditer(text):
        if not inside:
            kept.append(text[pos : m.start()])
        inside = m.group("kind") == "start"
        pos = m.end()
    if not inside:
        kept.append(text[pos:])
    return "".join(kept), inside


def strip_solutions(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    r"""Return a copy of ``nb`` with every solution removed (see the module docstring) and stubs kept.

    Raises
    ------
    ValueError
        If a ``{solution-start}`` has no matching ``{solution-end}``.

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook(cells=[
    ...     nbformat.v4.new_markdown_cell("# T\n````{exercise} E\n:label: e1\nDo it.\n````"),
    ...     nbformat.v4.new_markdown_cell("````{solution} e1\nThe answer is 42.\n````")])
    >>> out = strip_solutions(nb)
    >>> len(out.cells), "42" in out.cells[0].source, "Student edition" in out.cells[0].source
    (1, False, True)
    """
    out = copy.deepcopy(nb)
    cells, inside = [], False
    for cell in out.cells:
        if cell.cell_type == "markdown":
            text, inside = _split_markdown(cell.source, inside)
            text = _SOLUTION_BLOCK.sub("", text)
            if text.strip():
                cell.source = text.strip("\n")
                cells.append(cell)
        elif cell.cell_type == "code":
            if inside or "solution" in cell.metadata.get("tags", []):
                continue
            cells.append(cell)
        else:
            cells.append(cell)
    if inside:
        raise ValueError("a {solution-start} has no matching {solution-end}")
    out.cells = cells
    for cell in out.cells:  # mark the edition under the title
        if cell.cell_type == "markdown" and re.search(r"^# ", cell.source, flags=re.M):
            cell.source = re.sub(r"^(# .*)$", lambda m: m.group(1) + NOTE, cell.source, count=1, flags=re.M)
            break
    return out


_PROTECTED = {"chapters", "hts_lib", "tests", "appendix", "images", "benchmarks", "results", ".git"}
_BOOK_FILES = ["_config.yml", "_toc.yml", "intro.md", "references.bib", "appendix", "images", "results"]


def make_student_edition(
    root: Path | str = ".", out: Path | str = "student", *, execute: bool = True
) -> Path:
    """Write the student notebooks and the student book sources; return the book folder.

    Parameters
    ----------
    root : path
        The repository root (holding ``_config.yml`` and ``chapters/``).
    out : path
        Output folder; replaced if it exists.
    execute : bool
        Whether the student book executes its notebooks when built (``False`` renders them unexecuted).
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    if not (root / "_config.yml").exists() or not (root / "chapters").is_dir():
        raise ValueError(
            f"root must be the book's repository root (with _config.yml and chapters/), got {root}"
        )
    if out == root or out in root.parents or (out.parent == root and out.name in _PROTECTED):
        raise ValueError(f"out must be a separate folder, got {out}")
    if out.exists():
        shutil.rmtree(out)
    book = out / "book"
    (out / "chapters").mkdir(parents=True)
    for name in _BOOK_FILES:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, book / name)
        elif src.exists():
            book.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, book / name)
    (book / "chapters").mkdir(parents=True, exist_ok=True)
    for path in sorted((root / "chapters").glob("*.ipynb")):
        nb = strip_solutions(nbformat.read(path, as_version=4))
        nb.metadata["hts"] = {"chapter": path.stem}  # how hts-grade recognises an edited title
        nbformat.write(nb, out / "chapters" / path.name)
        nbformat.write(nb, book / "chapters" / path.name)
    cfg = (book / "_config.yml").read_text()
    cfg = re.sub(r'^title: "(.*)"$', r'title: "\1 (student edition)"', cfg, count=1, flags=re.M)
    cfg = cfg.replace(
        "    exercise_style: solution_follow_exercise\n",
        "    exercise_style: solution_follow_exercise\n    hide_solutions: true\n",
    )
    if not execute:
        cfg = cfg.replace("execute_notebooks: cache", "execute_notebooks: \"off\"")
    (book / "_config.yml").write_text(cfg)
    return book


def main(argv: list[str] | None = None) -> int:
    """Run ``python -m hts_lib.book.student`` (``make student``)."""
    parser = argparse.ArgumentParser(
        prog="python -m hts_lib.book.student", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--root", default=".", help="repository root (default: current folder)")
    parser.add_argument("--out", default="student", help="output folder (default: student)")
    parser.add_argument("--build", action="store_true", help="also build the student book strictly")
    parser.add_argument("--no-execute", action="store_true", help="build without executing the notebooks")
    args = parser.parse_args(argv)
    book = make_student_edition(args.root, args.out, execute=not args.no_execute)
    print(f"student notebooks: {Path(args.out) / 'chapters'}\nstudent book sources: {book}")
    if args.build:
        exe = Path(sys.executable).with_name("jupyter-book")
        cmd = [str(exe), "build", str(book), "-W", "-n", "--keep-going"]
        return subprocess.call(cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
