"""Browser tests of the built book (headless Chromium driven by Playwright).

The book must be built first (`make book`; `make test` does it). Every page is served from 127.0.0.1 and
loaded in a real browser with no network: no request may fail, no console error may appear beyond a documented
allow-list, all math must be typeset by the offline MathJax, every image must decode and carry alt text, and
chapter pages must offer Binder, Colab and download links.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Console errors emitted by the theme stack itself on every page (documented in the toolchain notes).
ALLOWED_CONSOLE = (
    "Identifier 'THEBE_JS_URL' has already been declared",
    "Got invalid theme mode",
)

pytestmark = pytest.mark.browser


def _pages() -> list[str]:
    if not (HTML / "index.html").exists():
        return []
    pages = ["index.html", "intro.html"]
    pages += sorted(str(p.relative_to(HTML)) for p in (HTML / "chapters").glob("*.html"))
    pages += sorted(str(p.relative_to(HTML)) for p in (HTML / "appendix").glob("*.html"))
    return pages


PAGES = _pages()
CHAPTER_PAGES = [p for p in PAGES if p.startswith("chapters/")]


def test_book_is_built():
    assert (HTML / "index.html").exists(), "build the book first: make book"
    assert CHAPTER_PAGES, "no chapter pages in _build/html/chapters"


@pytest.fixture(scope="module")
def server():
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output readable
            pass

    handler = functools.partial(Quiet, directory=str(HTML))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed: apt-get install chromium"
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield b
        b.close()


def _load(browser, url):
    """Open url, record failed requests and console errors, wait for MathJax; return (page, problems)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.on(
        "console",
        lambda m: (
            problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not any(a in m.text for a in ALLOWED_CONSOLE)
            else None
        ),
    )
    page.on(
        "pageerror",
        lambda e: (
            problems.append(f"page error: {e}") if not any(a in str(e) for a in ALLOWED_CONSOLE) else None
        ),
    )
    page.goto(url, wait_until="load")
    page.wait_for_function(
        "() => !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise)", timeout=30_000
    )
    page.evaluate("() => window.MathJax && window.MathJax.startup ? window.MathJax.startup.promise : null")
    return page, problems


@pytest.mark.parametrize("rel", PAGES)
def test_page_loads_cleanly_with_math_and_images(browser, server, rel):
    page, problems = _load(browser, f"{server}/{rel}")
    try:
        # math: every .math span/div must have been turned into an mjx-container by the offline MathJax
        n_math = page.evaluate("() => document.querySelectorAll('.math').length")
        untypeset = page.evaluate(
            "() => [...document.querySelectorAll('.math')]"
            ".filter(e => !e.querySelector('mjx-container')).length"
        )
        assert untypeset == 0, f"{rel}: {untypeset} of {n_math} math elements not typeset"
        # images: decoded and described
        imgs = page.evaluate(
            "() => [...document.querySelectorAll('article img')].map(i => ({src: i.src, w: i.naturalWidth, "
            "alt: i.getAttribute('alt') || ''}))"
        )
        for img in imgs:
            assert img["w"] > 0, f"{rel}: image did not decode: {img['src']}"
            assert len(img["alt"].strip()) > 10, f"{rel}: image without meaningful alt text: {img['src']}"
        assert not problems, f"{rel}: " + "; ".join(problems)
    finally:
        page.close()


@pytest.mark.parametrize("rel", CHAPTER_PAGES)
def test_chapter_has_figures_launch_and_download_links(browser, server, rel):
    page, _ = _load(browser, f"{server}/{rel}")
    try:
        n_fig = page.evaluate("() => document.querySelectorAll('article figure img').length")
        assert n_fig >= 3, f"{rel}: expected at least three figures, found {n_fig}"
        hrefs = page.evaluate("() => [...document.querySelectorAll('a')].map(a => a.href)")
        stem = Path(rel).stem
        assert any("mybinder.org" in h and f"{stem}.ipynb" in h for h in hrefs), f"{rel}: no Binder link"
        assert any("colab.research.google.com" in h and f"{stem}.ipynb" in h for h in hrefs), (
            f"{rel}: no Colab link"
        )
        assert any(h.endswith(f"_sources/chapters/{stem}.ipynb") for h in hrefs), (
            f"{rel}: no .ipynb download link"
        )
        captions = page.evaluate("() => [...document.querySelectorAll('article figure figcaption')].length")
        assert captions >= n_fig, f"{rel}: a figure has no caption"
    finally:
        page.close()


def test_download_link_serves_the_notebook(server):
    import urllib.request

    for rel in CHAPTER_PAGES:
        stem = Path(rel).stem
        with urllib.request.urlopen(f"{server}/_sources/chapters/{stem}.ipynb") as r:
            body = r.read()
        assert re.search(rb'"nbformat":\s*4', body), f"{stem}: download is not a notebook"
