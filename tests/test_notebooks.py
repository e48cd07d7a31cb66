"""Notebook hygiene: what every chapter must be before it is committed.

Chapters are committed clean (no outputs), follow the house anatomy, and their exercises are shaped so that
the student edition can be generated from them.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CHAPTER_IDS = [p.stem for p in CHAPTERS]


def _read(path: Path):
    return nbformat.read(path, as_version=4)


def _markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def _strip_fences(text: str) -> str:
    """Drop fenced code blocks (``` and ~~~) so that '#' comments in code do not count as headings."""
    return re.sub(r"^(```|~~~)[^\n]*\n.*?^\1\s*$", "", text, flags=re.S | re.M)


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []
    for part in toc.get("parts", []):
        for ch in part.get("chapters", []) or []:
            files.append(ch["file"])
    return files


def _bib_keys() -> set[str]:
    return set(re.findall(r"@\w+\{([^,\s]+),", (ROOT / "references.bib").read_text()))


def test_there_are_chapters():
    assert CHAPTERS, "no chapters found"


def test_every_chapter_is_in_the_toc_and_every_toc_file_exists():
    toc = _toc_files()
    for stem in CHAPTER_IDS:
        assert f"chapters/{stem}" in toc, f"{stem} is not in _toc.yml"
    for f in toc:
        assert any((ROOT / f"{f}{ext}").exists() for ext in (".ipynb", ".md")), (
            f"{f} in _toc.yml does not exist"
        )


def test_chapter_names_start_with_a_letter():
    for p in CHAPTERS:
        assert p.name[0].isalpha(), f"{p.name}: digit-first names break the PDF build"


@pytest.mark.parametrize("path", CHAPTERS, ids=CHAPTER_IDS)
class TestChapter:
    def test_outputs_stripped_and_kernelspec(self, path):
        nb = _read(path)
        nbformat.validate(nb)
        assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
        for c in nb.cells:
            if c.cell_type == "code":
                assert not c.get("outputs"), f"{path.name}: a code cell has outputs"
                assert c.get("execution_count") is None, f"{path.name}: a code cell has an execution count"

    def test_one_h1_and_required_sections(self, path):
        md = _strip_fences(_markdown(_read(path)))
        h1 = re.findall(r"^# \S.*$", md, flags=re.M)
        assert len(h1) == 1, f"{path.name}: expected one H1, found {h1}"
        for section in ("## Overview", "## Summary", "## Exercises", "## Further reading"):
            assert re.search(rf"^{re.escape(section)}\s*$", md, flags=re.M), (
                f"{path.name}: missing '{section}'"
            )
        assert "By the end of this chapter you can" in md, f"{path.name}: no learning objectives"

    def test_colab_setup_cell_pins_the_release(self, path):
        nb = _read(path)
        first_code = next(c for c in nb.cells if c.cell_type == "code")
        version = re.search(
            r'^__version__ = "([^"]+)"', (ROOT / "hts_lib" / "__init__.py").read_text(), flags=re.M
        ).group(1)
        assert "google.colab" in first_code.source, f"{path.name}: first code cell is not the Colab setup"
        assert f"@v{version}" in first_code.source, f"{path.name}: Colab cell does not pin v{version}"

    def test_imports_cell_sets_seed(self, path):
        sources = [c.source for c in _read(path).cells if c.cell_type == "code"]
        assert any(re.search(r"^SEED\s*=\s*\d+", s, flags=re.M) for s in sources), f"{path.name}: no SEED"

    def test_every_exercise_has_a_solution(self, path):
        md = _markdown(_read(path))
        exercises = re.findall(r"^`{3,}\{exercise\}.*\n:label:\s*(\S+)", md, flags=re.M)
        solutions = re.findall(r"^`{3,}\{solution(?:-start)?\}\s*(\S+)", md, flags=re.M)
        assert 4 <= len(exercises) <= 8, f"{path.name}: expected 4-6 exercises, found {len(exercises)}"
        assert sorted(exercises) == sorted(solutions), (
            f"{path.name}: exercises {exercises} vs solutions {solutions}"
        )
        starts = len(re.findall(r"^`{3,}\{solution-start\}", md, flags=re.M))
        ends = len(re.findall(r"^`{3,}\{solution-end\}", md, flags=re.M))
        assert starts == ends, f"{path.name}: unbalanced solution-start/solution-end"

    def test_stubs_match_solutions(self, path):
        nb = _read(path)
        stubs = [c for c in nb.cells if c.cell_type == "code" and "stub" in c.metadata.get("tags", [])]
        sols = [c for c in nb.cells if c.cell_type == "code" and "solution" in c.metadata.get("tags", [])]
        assert len(stubs) >= 2, f"{path.name}: fewer than two coding exercises with stubs"

        def signatures(src):
            tree = ast.parse(src)
            return {n.name: ast.unparse(n.args) for n in tree.body if isinstance(n, ast.FunctionDef)}

        sol_sigs = {}
        for c in sols:
            sol_sigs.update(signatures(c.source))
        for c in stubs:
            tree = ast.parse(c.source)
            funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
            assert funcs, f"{path.name}: a stub cell defines no function"
            assert all(
                isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom, ast.Expr, ast.Assign))
                for n in tree.body
            ), f"{path.name}: a stub cell does more than define its function"
            for f in funcs:
                assert "NotImplementedError" in ast.unparse(f), f"{path.name}: stub {f.name} does not raise"
                assert f.name in sol_sigs, f"{path.name}: stub {f.name} has no solution"
                assert sol_sigs[f.name] == ast.unparse(f.args), f"{path.name}: {f.name} signature differs"
        # every coding solution calls its answer check
        assert all("check(" in c.source for c in sols if "def " in c.source), (
            f"{path.name}: solution without check"
        )

    def test_no_dropdown_proofs(self, path):
        # a prf:proof with class dropdown has no admonition title and breaks the theme's toggle script
        md = _markdown(_read(path))
        assert not re.search(r"\{prf:proof\}[^\n]*\n(:[^\n]*\n)*:class:[^\n]*dropdown", md), path.name

    def test_cite_keys_exist(self, path):
        md = _markdown(_read(path))
        keys = set()
        for group in re.findall(r"\{cite(?::\w+)?\}`([^`]+)`", md):
            keys.update(k.strip() for k in group.split(","))
        missing = keys - _bib_keys()
        assert not missing, f"{path.name}: cite keys not in references.bib: {sorted(missing)}"
        assert keys, f"{path.name}: no citations"

    def test_glued_names_are_defined(self, path):
        nb = _read(path)
        md = _markdown(nb)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        used = set(re.findall(r"\{glue(?::\w+)?\}`([A-Za-z_]\w*)", md))
        for name in used:
            assert re.search(rf"glue\(\s*[\"']{name}[\"']", code), (
                f"{path.name}: glue name {name!r} not defined"
            )

    def test_figures_have_caption_name_and_alt_text(self, path):
        nb = _read(path)
        figs = [c for c in nb.cells if c.cell_type == "code" and "figure" in c.metadata.get("mystnb", {})]
        assert len(figs) >= 3, f"{path.name}: fewer than three captioned figures"
        for c in figs:
            fig = c.metadata["mystnb"]["figure"]
            assert fig.get("caption") and fig.get("name"), f"{path.name}: figure without caption or name"
            alt = c.metadata["mystnb"].get("image", {}).get("alt", "")
            assert len(alt) > 20, f"{path.name}: figure {fig.get('name')} has no meaningful alt text"
