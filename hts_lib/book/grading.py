r"""Grade a class's notebooks: ``hts-grade SUBMISSIONS --out gradebook.csv [--timeout SECONDS]``.

Every ``*.ipynb`` in the folder ``SUBMISSIONS`` is one student's submission of a chapter of the student
edition. For each one the grader

1. reads the notebook (a corrupted or truncated file gets 0 points and the note ``unreadable file``);
2. recognises the chapter from the notebook itself: its H1 title, or failing that the ``hts.chapter`` entry
   the student edition writes into the notebook's metadata (never the file name);
3. executes it with :mod:`nbclient` in a fresh kernel of its own, in a fresh temporary folder holding only a
   copy of that notebook, under a time limit for the whole notebook and a memory limit; a cell that raises
   does not stop the run (the error is noted and the next cells run);
4. runs, in the same kernel, the answer check of every coding exercise of the chapter
   (:func:`hts_lib.book.checks.check`) on the student's function, looked up by the name the chapter's stub
   gives it, whether or not the student kept the ``check(...)`` call; each check has the same time limit
   again.

Points: each coding exercise is worth 1 point, credited in proportion to the check's cases that pass (rounded
to two decimals). The gradebook (CSV) has one row per submission: ``file``, ``chapter``, one column per
exercise, ``total``, ``max`` and ``notes`` (the reason for every lost point: the failed cases, a stub left
unimplemented, a time limit, a cell's error with its last line, an unreadable file, a notebook of another
chapter, a missing function). A feedback file per submission holds the checks' full reports. A bad submission
never stops the run.

The answer key (chapter titles, exercises and the name of each exercise's function) is read from the book's
own chapters (``--book``, default: the current folder, else the repository that holds this library).

Isolation, and what it does not do
----------------------------------
Submissions are untrusted code. Each runs in its own kernel process with

- a wall-clock limit (``--timeout``; the kernel is interrupted, and killed with its process group if that
  fails),
- a memory limit (``--memory``, ``RLIMIT_AS`` on the worker and the kernel it starts), a 1 GiB limit on the
  size of any file it writes, and no core dumps,
- a fresh temporary working folder holding only a copy of its own notebook and, beside it, a copy of the
  book's ``results/`` (deleted afterwards), and an environment reduced to a few variables (``PATH``,
  ``HOME``, locale, Python and Jupyter paths: no tokens or credentials of the instructor's session, no
  ``HTS_STRICT_CHECKS``); the gradebook and feedback files are written only after every submission has run.

This protects against accidents: infinite loops, runaway memory, relative paths that would overwrite files, a
notebook that deletes its own folder. It does **not** protect against a deliberately malicious submission: the
kernel runs as the instructor's user, so it can read or write any file that user can (other submissions by
their absolute path included), open network connections, start processes that outlive it, or tamper with the
check module inside its own kernel. For a class you do not trust, run the grader inside a throwaway container
that sees only a copy of the submissions and has no network, e.g.::

    docker run --rm --network none -v "$PWD/submissions:/in:ro" -v "$PWD/out:/out" IMAGE \
        hts-grade /in --out /out/gradebook.csv

(any image with this library installed, e.g. one built by repo2docker from the book's repository), and read
the feedback files before publishing grades.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from hts_lib.book.checks import CheckReport, exercises_by_chapter
from hts_lib.validation import check_int, check_path, check_real

__all__ = [
    "ChapterKey",
    "Grade",
    "answer_key",
    "find_book",
    "recognise_chapter",
    "grade_submission",
    "grade_class",
    "write_gradebook",
    "main",
]

MIME = "application/x.hts-grade+json"  # how a check's report leaves the student's kernel
# the only environment variables a submission sees (no tokens or credentials of the instructor's session)
_ENV_KEPT = {
    "PATH",
    "HOME",
    "LANG",
    "TZ",
    "TMPDIR",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "PYTHONPATH",
    "JUPYTER_PATH",
    "JUPYTER_DATA_DIR",
    "MPLCONFIGDIR",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
}
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.M)
_CHECK_CALL = re.compile(r"""check\(\s*["']([\w-]+)["']\s*,\s*([A-Za-z_]\w*)""")
_NOTE_LEN = 160  # characters of a check's message kept in the gradebook's notes (the feedback has it all)


@dataclass(frozen=True)
class ChapterKey:
    """What the grader knows about one chapter: its title and, per coding exercise, the function to check."""

    chapter: str
    title: str
    exercises: tuple[tuple[str, str], ...]  # (exercise identifier, name of the student's function)


@dataclass
class Grade:
    """The grade of one submission (one row of the gradebook, and its feedback file)."""

    file: str
    chapter: str = ""
    points: dict[str, float] = field(default_factory=dict)
    max_points: float = 0.0
    notes: list[str] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)  # for the feedback only: nothing was lost for them
    reports: dict[str, CheckReport] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> float:
        """Sum of the points."""
        return round(sum(self.points.values()), 2)

    def feedback(self) -> str:
        """Return the student's feedback: the points, every note and every check's full report."""
        lines = [
            f"Submission: {self.file}",
            f"Chapter: {self.chapter or 'not recognised'}",
            f"Points: {_fmt(self.total)} of {_fmt(self.max_points)}",
            "",
        ]
        if self.notes:
            lines += ["Notes:"] + [f"- {n}" for n in self.notes] + [""]
        if self.remarks:
            lines += ["Remarks:"] + [f"- {n}" for n in self.remarks] + [""]
        for ex in self.points:
            lines.append(f"{ex}: {_fmt(self.points[ex])} of 1")
            lines.append(str(self.reports[ex]) if ex in self.reports else "(no report: see the notes)")
            lines.append("")
        return "\n".join(lines)


def _fmt(x: float) -> str:
    return f"{x:g}"


def _normalise_title(text: str) -> str:
    return " ".join(text.replace("*", "").replace("`", "").split()).casefold()


def _h1_titles(nb) -> list[str]:
    return [
        m.group(1) for c in nb.cells if c.get("cell_type") == "markdown" for m in _H1.finditer(_source(c))
    ]


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def find_book(book=None) -> Path:
    """Return the book's root folder (the one holding ``chapters/``).

    That is ``book`` if given, else the current folder, else the repository this library was installed from.

    Raises
    ------
    ValueError
        If no folder with ``chapters/*.ipynb`` is found.
    """
    if book is not None:
        root = check_path("book", book)
        if not any((root / "chapters").glob("*.ipynb")):
            raise ValueError(f"book must be the book's root folder (with chapters/*.ipynb), got {root}")
        return root
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if any((root / "chapters").glob("*.ipynb")):
            return root
    raise ValueError("the book's chapters were not found: run from the book's folder or pass --book")


def answer_key(book=None) -> dict[str, ChapterKey]:
    """Chapters of the book and, for each coding exercise with a registered check, the function it checks.

    The function's name is the one in the chapter's own ``check("<exercise>", <function>)`` call (in its
    solution).

    >>> key = answer_key()
    >>> key["ch01_sgd_in_one_dimension"].exercises
    (('ch01-mc-moment', 'mc_log_moment'), ('ch01-tail-index', 'my_tail_index'))
    """
    root = find_book(book)
    registered = exercises_by_chapter()
    out = {}
    for path in sorted((root / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        titles = _h1_titles(nb)
        known = set(registered.get(path.stem, []))
        pairs: dict[str, str] = {}
        for cell in nb.cells:
            if cell.cell_type == "code":
                for ex, fn in _CHECK_CALL.findall(cell.source):
                    if ex in known:
                        pairs.setdefault(ex, fn)
        title = titles[0] if titles else path.stem
        out[path.stem] = ChapterKey(path.stem, title, tuple(sorted(pairs.items())))
    return out


def recognise_chapter(nb, key: dict[str, ChapterKey]) -> str | None:
    """Return the chapter a notebook is (a key of ``key``), from its H1 title, else its metadata.

    The file name is never used: students rename files.
    """
    by_title = {_normalise_title(k.title): k.chapter for k in key.values()}
    for title in _h1_titles(nb):
        if _normalise_title(title) in by_title:
            return by_title[_normalise_title(title)]
    meta = nb.get("metadata", {}).get("hts", {})
    chapter = meta.get("chapter") if isinstance(meta, dict) else None
    return chapter if isinstance(chapter, str) and chapter in key else None


def _read_notebook(path: Path):
    """Read the submission as a clean notebook (code and Markdown sources only), or raise ValueError."""
    try:
        text = path.read_bytes().decode("utf-8")
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:  # corrupted or truncated: say where, not the file's text
            raise ValueError(f"not JSON: {exc}") from None
        nb = nbformat.reads(text, as_version=4)
        cells = nb.get("cells")
        if not isinstance(cells, list):
            raise ValueError("no list of cells")
        clean = nbformat.v4.new_notebook(metadata={"hts": nb.get("metadata", {}).get("hts", {})})
        for cell in cells:
            kind = cell.get("cell_type")
            if kind == "code":
                clean.cells.append(nbformat.v4.new_code_cell(_source(cell)))
            elif kind == "markdown":
                clean.cells.append(nbformat.v4.new_markdown_cell(_source(cell)))
    except Exception as exc:  # any parse failure is the student's, reported in the gradebook
        last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
        raise ValueError(f"unreadable file ({last[:_NOTE_LEN]})") from None
    clean.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return clean


# ---------------------------------------------------------------- the worker (one process per submission)

_GRADE_CELL = '''\
def __hts_grade():
    from IPython.display import display
    from hts_lib.book.checks import check
    f = globals().get({fn!r})
    if f is None:
        out = {{"status": "missing"}}
    elif not callable(f):
        out = {{"status": "not callable", "type": type(f).__name__}}
    else:
        try:
            out = {{"status": "checked", "report": check({ex!r}, f, verbose=False, strict=False).to_dict()}}
        except BaseException as exc:
            out = {{"status": "check error", "error": type(exc).__name__ + ": " + str(exc)}}
    display({{{mime!r}: out}}, raw=True)
__hts_grade()
del __hts_grade
'''


def _limit_resources(memory_mb: int) -> None:
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**30, 2**30))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _first_line(source: str) -> str:
    lines = [ln.strip() for ln in source.splitlines() if ln.strip()]
    return (lines[0][:60] + ("..." if len(lines) > 1 or len(lines[0]) > 60 else "")) if lines else ""


async def _cancel_stale_polls() -> None:
    """Cancel the output poller of a timed-out cell.

    nbclient leaves it running (a timeout is a control signal to it), and it would swallow the next cells'
    messages, the checks' reports among them.
    """
    stale = [
        t
        for t in asyncio.all_tasks()
        if not t.done()
        and getattr(t.get_coro(), "__qualname__", "").endswith(
            ("_async_poll_output_msg", "_async_poll_kernel_alive")
        )
    ]
    for t in stale:
        t.cancel()
    await asyncio.gather(*stale, return_exceptions=True)


def _run_worker(spec_path: str) -> int:
    """Execute one submission and run its checks; write the outcome as JSON (runs in its own process)."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbclient.util import run_sync  # the client's kernel manager is asynchronous

    spec = json.loads(Path(spec_path).read_text())
    result_path = Path(spec["result"])
    _limit_resources(spec["memory_mb"])
    nb = nbformat.read(spec["notebook"], as_version=4)
    n_cells = len(nb.cells)
    out = {"errors": [], "timeout": None, "dead": None, "stuck": False, "checks": {}, "kernel": None}
    client = NotebookClient(
        nb,
        kernel_name="python3",
        allow_errors=True,
        interrupt_on_timeout=False,
        record_timing=False,
        startup_timeout=120,
        resources={"metadata": {"path": str(Path(spec["notebook"]).parent)}},
    )

    def run(cell, index, seconds) -> str:
        """Execute one cell: 'ok', 'timeout' (interrupted, alive again), 'stuck' (killed) or 'dead'."""
        client.timeout = max(1, math.ceil(seconds))
        try:
            client.execute_cell(cell, index)
            return "ok"
        except DeadKernelError:
            return "dead"
        except CellTimeoutError:
            run_sync(_cancel_stale_polls)()
            run_sync(client.km.interrupt_kernel)()
            probe = nbformat.v4.new_code_cell("pass")
            nb.cells.append(probe)
            client.timeout = 10  # a kernel that does not answer 10 s after an interrupt is stuck
            try:
                client.execute_cell(probe, len(nb.cells) - 1)
                return "timeout"
            except DeadKernelError:
                return "dead"
            except CellTimeoutError:
                run_sync(client.km.shutdown_kernel)(now=True)
                return "stuck"

    try:
        with client.setup_kernel():
            pid = getattr(client.km.provisioner, "pid", None)
            out["kernel"] = pid
            result_path.with_suffix(".pid").write_text(str(pid))
            deadline = time.monotonic() + spec["timeout"]
            for i in range(n_cells):
                cell = nb.cells[i]
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                state = run(cell, i, deadline - time.monotonic())
                for o in cell.get("outputs", []):
                    if o.get("output_type") == "error":
                        error = f"{o.get('ename')}: {o.get('evalue')}".rstrip(": ")
                        out["errors"].append({"cell": i, "error": error})
                if state != "ok":
                    where = {"cell": i, "line": _first_line(cell.source)}
                    out["dead" if state == "dead" else "timeout"] = where
                    out["stuck"] = state == "stuck"
                    break
                if time.monotonic() >= deadline and i < n_cells - 1:
                    out["timeout"] = {"cell": i, "line": _first_line(cell.source)}
                    break
            if out["timeout"]:  # the interrupt's KeyboardInterrupt is the time limit, noted as such
                out["errors"] = [
                    e
                    for e in out["errors"]
                    if e["cell"] != out["timeout"]["cell"] or not e["error"].startswith("KeyboardInterrupt")
                ]
            for ex, fn in spec["exercises"]:
                if out["dead"] is not None or out["stuck"]:
                    break
                cell = nbformat.v4.new_code_cell(_GRADE_CELL.format(fn=fn, ex=ex, mime=MIME))
                nb.cells.append(cell)
                state = run(cell, len(nb.cells) - 1, spec["timeout"])
                found = [
                    o["data"][MIME]
                    for o in cell.get("outputs", [])
                    if o.get("output_type") == "display_data" and MIME in o.get("data", {})
                ]
                if state == "ok" and found:
                    out["checks"][ex] = found[0]
                elif state == "ok":
                    err = [
                        f"{o.get('ename')}: {o.get('evalue')}"
                        for o in cell.get("outputs", [])
                        if o.get("output_type") == "error"
                    ]
                    out["checks"][ex] = {"status": "check error", "error": (err or ["no report"])[0]}
                else:
                    out["checks"][ex] = {"status": "time limit"}
                    out["stuck"] = state == "stuck"
                    if state == "dead":
                        out["dead"] = {"cell": None, "line": f"the check of {ex}"}
    except Exception as exc:  # the kernel did not start, or nbclient failed: report, do not crash
        out["failure"] = f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[-1]}"
    result_path.write_text(json.dumps(out))
    return 0


# ---------------------------------------------------------------- the parent: one submission


def _kill_group(pid) -> None:
    try:
        if pid and os.getsid(int(pid)) == int(pid):  # still a session leader: the kernel we started
            os.killpg(int(pid), signal.SIGKILL)
    except (ProcessLookupError, PermissionError, ValueError):
        pass


def _execute(nb, exercises, *, timeout: float, memory_mb: int, shared=()) -> dict:
    """Run the worker on ``nb`` in a fresh temporary folder; return its outcome (or a failure).

    The notebook runs in ``<tmp>/chapters/`` as the book's chapters do, with a copy of each folder of
    ``shared`` beside it (``<tmp>/results``: relative paths such as ``../results/...`` resolve as in the
    book).
    """
    base = Path(tempfile.mkdtemp(prefix="hts-grade-"))
    work = base / "chapters"
    work.mkdir()
    private = Path(tempfile.mkdtemp(prefix="hts-grade-result-"))
    try:
        for folder in shared:
            shutil.copytree(folder, base / folder.name, symlinks=False)
        nbformat.write(nb, work / "submission.ipynb")
        spec = {
            "notebook": str(work / "submission.ipynb"),
            "exercises": exercises,
            "timeout": timeout,
            "memory_mb": memory_mb,
            "result": str(private / "result.json"),
        }
        (private / "spec.json").write_text(json.dumps(spec))
        env = {k: v for k, v in os.environ.items() if k in _ENV_KEPT or k.startswith(("LC_", "XDG_"))}
        env.update(OMP_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONHASHSEED="0", PWD=str(work))
        # a backstop above the worker's own limits: the notebook, one limit per check, 10 s per interrupt,
        # kernel start-up (up to 120 s on a loaded machine) and shut-down
        hard = timeout * (1 + len(exercises)) + 10 * (1 + len(exercises)) + 180
        cmd = [sys.executable, "-m", "hts_lib.book.grading", "--worker", str(private / "spec.json")]
        proc = subprocess.Popen(
            cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        try:
            _, err = proc.communicate(timeout=hard)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate()
            err = b""
        pid_file = private / "result.pid"
        if pid_file.exists():
            _kill_group(pid_file.read_text().strip())
        _kill_group(proc.pid)
        if (private / "result.json").exists():
            return json.loads((private / "result.json").read_text())
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no result"]
        return {"failure": f"the grader's worker stopped ({tail[0][:_NOTE_LEN]})"}
    finally:
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(private, ignore_errors=True)


def _case_notes(ex: str, report: CheckReport) -> list[str]:
    failed = [r for r in report.results if not r.passed]
    if failed and all("not implemented" in r.message for r in failed):
        return [f"{ex}: stub not implemented (the function still raises NotImplementedError)"]
    notes = []
    by_message = collections.defaultdict(list)  # one note for cases that failed the same way (e.g. an error)
    for r in failed:
        by_message[r.message].append(r.description)
    for message, cases in by_message.items():
        message = message.split("; tolerance")[0]  # expected, got and error; the feedback has the tolerance
        msg = message if len(message) <= _NOTE_LEN else message[:_NOTE_LEN] + "..."
        what = f"case {cases[0]}" if len(cases) == 1 else f"{len(cases)} cases ({'; '.join(cases)})"
        notes.append(f"{ex}: failed {what}: {msg}")
    return notes


def grade_submission(
    path,
    key: dict[str, ChapterKey],
    *,
    timeout: float = 300.0,
    memory_mb: int = 4096,
    chapter: str | None = None,
    shared=(),
) -> Grade:
    """Grade one notebook; never raises for a bad submission (the reason goes into ``Grade.notes``).

    Parameters
    ----------
    path : path
        The submitted ``.ipynb``.
    key : dict
        The answer key, from :func:`answer_key`.
    timeout : float
        Seconds for executing the whole notebook, and again for each exercise's check.
    memory_mb : int
        Memory limit of the kernel (address space, MiB).
    chapter : str, optional
        The assigned chapter: a notebook of another chapter gets 0 points. ``None``: grade each notebook on
        the chapter it is.
    shared : sequence of paths
        Folders copied beside the notebook's working folder for each run (the book's ``results/``, which
        chapters read as ``../results/...``); each submission gets its own copy.
    """
    path = check_path("path", path)
    shared = [check_path("shared", f) for f in shared]
    for f in shared:
        if not f.is_dir():
            raise ValueError(f"shared must list folders, got {f}")
    timeout = check_real("timeout", timeout, low=0, low_open=True)
    memory_mb = check_int("memory_mb", memory_mb, low=256)
    if chapter is not None and chapter not in key:
        raise ValueError(f"chapter must be one of {', '.join(key)}, got {chapter!r}")
    t0 = time.perf_counter()
    grade = Grade(path.name)
    if chapter is not None:
        grade.points = {ex: 0.0 for ex, _ in key[chapter].exercises}
        grade.max_points = float(len(grade.points))
        grade.chapter = chapter
    try:
        nb = _read_notebook(path)
    except ValueError as exc:
        grade.notes.append(str(exc))
        return grade
    found = recognise_chapter(nb, key)
    if found is None:
        titles = _h1_titles(nb)
        grade.notes.append(
            "chapter not recognised: no H1 title of a book chapter"
            + (f" (found '{titles[0][:60]}')" if titles else " (no H1 title)")
        )
        return grade
    if chapter is not None and found != chapter:
        grade.notes.append(
            f"a notebook of another chapter ({found}), the assignment is {chapter}: not graded"
        )
        return grade
    ck = key[found]
    grade.chapter = found
    grade.points = {ex: 0.0 for ex, _ in ck.exercises}
    grade.max_points = float(len(grade.points))
    outcome = _execute(
        nb, [list(p) for p in ck.exercises], timeout=timeout, memory_mb=memory_mb, shared=shared
    )
    grade.seconds = time.perf_counter() - t0
    if "failure" in outcome:
        grade.notes.append(f"not graded: {outcome['failure']}")
        return grade
    if outcome["timeout"]:
        t = outcome["timeout"]
        grade.notes.append(
            f"time limit of {timeout:g} s reached in cell {t['cell']} ({t['line']}): "
            "the cells after it were not run"
            + (
                "; the kernel did not stop when interrupted and was killed, so no check could run"
                if outcome["stuck"]
                else ""
            )
        )
    if outcome["dead"]:
        d = outcome["dead"]
        where = f"cell {d['cell']} ({d['line']})" if d["cell"] is not None else d["line"]
        grade.notes.append(
            f"the kernel died in {where}: memory limit of {memory_mb} MiB exceeded, or the "
            "code stopped the interpreter"
        )
    for e in outcome["errors"][:5]:
        grade.notes.append(f"cell {e['cell']} raised {e['error'][:_NOTE_LEN]}")
    if len(outcome["errors"]) > 5:
        grade.notes.append(f"... and {len(outcome['errors']) - 5} more cells raised errors")
    sources = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for ex, fn in ck.exercises:
        res = outcome["checks"].get(ex)
        if res is None:
            grade.notes.append(f"{ex}: not checked (the kernel had been stopped)")
            continue
        status = res["status"]
        if status == "checked":
            report = CheckReport.from_dict(res["report"])
            grade.reports[ex] = report
            n_ok = sum(r.passed for r in report.results)
            grade.points[ex] = round(n_ok / len(report.results), 2) if report.results else 0.0
            grade.notes += _case_notes(ex, report)
            if not re.search(rf"""check\(\s*["']{re.escape(ex)}["']""", sources):
                grade.remarks.append(
                    f"{ex}: the notebook has no check(...) call for it; the grader ran the check"
                )
        elif status == "missing":
            grade.notes.append(f"{ex}: no function named {fn} (its cell was deleted, renamed or did not run)")
        elif status == "not callable":
            grade.notes.append(f"{ex}: {fn} is a {res.get('type')}, not a function")
        elif status == "time limit":
            grade.notes.append(f"{ex}: time limit: the check of {fn} did not finish within {timeout:g} s")
        else:
            grade.notes.append(f"{ex}: the check could not run ({res.get('error', '')[:_NOTE_LEN]})")
    return grade


# ---------------------------------------------------------------- the class


def _assigned_chapter(files, key) -> str | None:
    """Return the chapter most submissions are (None when no notebook is readable and recognised)."""
    seen = collections.Counter()
    for f in files:
        try:
            c = recognise_chapter(_read_notebook(f), key)
        except ValueError:
            continue
        if c is not None:
            seen[c] += 1
    return seen.most_common(1)[0][0] if seen else None


def grade_class(
    submissions,
    *,
    book=None,
    timeout: float = 300.0,
    memory_mb: int = 4096,
    chapter: str | None = "auto",
    jobs: int | None = None,
    progress=None,
) -> list[Grade]:
    """Grade every ``*.ipynb`` in the folder ``submissions``, ``jobs`` at a time.

    ``chapter``: ``"auto"`` (default) takes the chapter most submissions are as the assignment; ``"all"``
    grades each notebook on its own chapter; a chapter name (``"ch01"`` or ``"ch01_sgd_in_one_dimension"``)
    fixes it.
    ``progress``: called with each :class:`Grade` as it is finished (e.g. to print a line).
    """
    folder = check_path("submissions", submissions)
    if not folder.is_dir():
        raise ValueError(f"submissions must be a folder of .ipynb files, got {folder}")
    jobs = check_int("jobs", jobs if jobs is not None else len(os.sched_getaffinity(0)), low=1)
    key = answer_key(book)
    results = find_book(book) / "results"  # shipped results that chapters read as ../results/...
    shared = [results] if results.is_dir() else []
    files = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if not files:
        raise ValueError(f"submissions has no .ipynb files: {folder}")
    if chapter == "auto":
        chapter = _assigned_chapter(files, key)
    elif chapter == "all":
        chapter = None
    elif isinstance(chapter, str):
        match = [k for k in key if k == chapter or k.split("_")[0] == chapter]
        if len(match) != 1:
            raise ValueError(f"chapter must be 'auto', 'all' or one of {', '.join(key)}, got {chapter!r}")
        chapter = match[0]
    else:
        raise TypeError(f"chapter must be a string, got {type(chapter).__name__}")

    def one(path):
        g = grade_submission(path, key, timeout=timeout, memory_mb=memory_mb, chapter=chapter, shared=shared)
        if progress is not None:
            progress(g)
        return g

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(one, files))


def write_gradebook(grades: list[Grade], out, *, feedback=None) -> Path:
    """Write the gradebook CSV ``out`` and one ``<file>.txt`` per submission into ``feedback``.

    Returns the path of the gradebook.

    Columns: ``file``, ``chapter``, one per exercise (in the book's order), ``total``, ``max``, ``notes``.
    """
    out = check_path("out", out)
    feedback = check_path("feedback", feedback, optional=True)
    columns = list(dict.fromkeys(ex for g in sorted(grades, key=lambda g: g.chapter) for ex in g.points))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "chapter", *columns, "total", "max", "notes"])
        for g in grades:
            w.writerow(
                [
                    g.file,
                    g.chapter,
                    *(_fmt(g.points[c]) if c in g.points else "" for c in columns),
                    _fmt(g.total),
                    _fmt(g.max_points),
                    " | ".join(g.notes),
                ]
            )
    tmp.replace(out)
    if feedback is not None:
        feedback.mkdir(parents=True, exist_ok=True)
        for g in grades:
            (feedback / (Path(g.file).stem + ".txt")).write_text(g.feedback() + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the ``hts-grade`` command."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"] and len(argv) == 2:
        return _run_worker(argv[1])
    parser = argparse.ArgumentParser(prog="hts-grade", description=__doc__.splitlines()[0])
    parser.add_argument("submissions", help="folder of submitted .ipynb notebooks")
    parser.add_argument("--out", required=True, help="gradebook CSV to write")
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds for running a notebook, and again for each exercise's check (default 300)",
    )
    parser.add_argument(
        "--memory", type=int, default=4096, help="memory limit per kernel in MiB (default 4096)"
    )
    parser.add_argument(
        "--chapter",
        default="auto",
        help="assigned chapter (e.g. ch01), 'auto' (the most common; default) or 'all'",
    )
    parser.add_argument(
        "--jobs", type=int, default=None, help="submissions graded at once (default: CPU count)"
    )
    parser.add_argument(
        "--feedback", default=None, help="folder for feedback files (default: OUT's name + _feedback)"
    )
    parser.add_argument("--book", default=None, help="the book's folder, for the answer key (default: found)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    feedback = Path(args.feedback) if args.feedback else out.with_name(out.stem + "_feedback")

    def show(g: Grade) -> None:
        print(
            f"{g.file}: {_fmt(g.total)}/{_fmt(g.max_points)} ({g.seconds:.0f} s)", file=sys.stderr, flush=True
        )

    try:
        grades = grade_class(
            args.submissions,
            book=args.book,
            timeout=args.timeout,
            memory_mb=args.memory,
            chapter=args.chapter,
            jobs=args.jobs,
            progress=show,
        )
        write_gradebook(grades, out, feedback=feedback)
    except (ValueError, TypeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"gradebook: {out} ({len(grades)} submissions); feedback: {feedback}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
