r"""Sphinx extension for the PDF edition (LaTeX builders only; HTML builds never load it).

1. Outputs that only a browser can show get a static stand-in. myst-nb keeps every mime type of a notebook
   output and picks one per builder in a post-transform. For LaTeX an output that carries only HTML or
   JavaScript (an animation player, a widget) would fall back to its ``text/plain`` repr, such as
   ``<IPython.core.display.HTML object>``, or vanish. Just before myst-nb's selection, such an output is
   replaced with the first frame of an animation player (matplotlib's ``to_jshtml`` embeds every frame as a
   base64 PNG) and a note giving the number of frames, or with any image embedded in the HTML, or with a note
   that the output is interactive. Outputs whose ``text/plain`` says something (a table, a number) keep it.
2. The same numbers as the HTML book: exercises, theorems and figures numbered by chapter ("Exercise 1.1"),
   also in chapters whose title has an apostrophe.
3. The book's structure as a printed book: the unnumbered parts of the table of contents that follow the
   numbered ones (the appendix) start LaTeX's ``\appendix`` (chapters lettered A, B, ...), and the
   bibliography page, left empty because Sphinx gathers every citation at the end of the book, is dropped; the
   gathered bibliography takes its title.

pdf/config.py adds this extension to the configuration of the PDF builds (``make pdf``, ``make pdf-student``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from pathlib import Path
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.builders.latex.nodes import thebibliography
from sphinx.config import Config
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

LOGGER = logging.getLogger(__name__)

# mime types that the LaTeX builder renders as they are (myst-nb's LaTeX priority list, text/plain aside)
STATIC = {"application/pdf", "image/png", "image/jpeg", "text/latex", "text/markdown"}
BROWSER_ONLY = {"text/html", "application/javascript", "application/vnd.jupyter.widget-view+json"}
WIDGET = "application/vnd.jupyter.widget-view+json"
# the repr IPython prints for an object that has no useful text form
DEFAULT_REPR = re.compile(r"^\s*<[\w.]+ object( at 0x[0-9a-fA-F]+)?>\s*$")
FRAME = re.compile(r'frames\[(\d+)\]\s*=\s*"data:image/(png|jpeg);base64,(.*?)"', re.S)
IMG = re.compile(r'<img\b[^>]*?\bsrc="data:image/(png|jpeg);base64,([^"]+)"', re.S)
ALT = re.compile(r'<img\b[^>]*?\balt="([^"]*)"', re.S)


def _decode(data: str) -> bytes | None:
    """Base64 text from a JavaScript string literal (lines continued with a backslash) to bytes."""
    try:
        return base64.b64decode(re.sub(r"\\\n|\s", "", data), validate=True)
    except (binascii.Error, ValueError):
        return None


def static_stand_in(text_html: str) -> tuple[bytes, str, int, str] | None:
    r"""Return (image bytes, extension, frame count, alt text) of the first image in ``text_html``, or None.

    >>> png = base64.b64encode(b"\x89PNG fake").decode()
    >>> player = f'<img alt="a curve">\nframes[0] = "data:image/png;base64,{png}"\nframes[1] = "x"'
    >>> static_stand_in(player)[1:]
    ('png', 2, 'a curve')
    """
    frames = FRAME.findall(text_html)
    if frames:
        _, ext, data = min(frames, key=lambda f: int(f[0]))
        n_frames = len(set(re.findall(r"frames\[(\d+)\]\s*=", text_html)))
    else:
        img = IMG.search(text_html)
        if img is None:
            return None
        ext, data = img.groups()
        n_frames = 1
    content = _decode(data)
    if not content:
        return None
    alt = ALT.search(text_html)
    return content, ext, n_frames, html.unescape(alt.group(1)) if alt else ""


class StaticStandIns(SphinxPostTransform):
    """Replace browser-only notebook outputs with a static frame or a note (LaTeX builders only)."""

    default_priority = 3  # before myst-nb's SelectMimeType (4)
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        """Replace each browser-only mime bundle of the document."""
        outdir = Path(self.app.outdir)
        for bundle in list(
            self.document.findall(
                lambda n: isinstance(n, nodes.container) and n.get("nb_element") == "mime_bundle"
            )
        ):
            by_type = {child.get("mime_type"): child for child in bundle.children}
            types = set(by_type)
            if types & STATIC or not types & BROWSER_ONLY:
                continue
            plain = by_type.get("text/plain")
            if plain is not None and WIDGET not in types and not DEFAULT_REPR.match(plain.astext()):
                continue  # a meaningful text form (a table, a number): myst-nb picks it
            found = static_stand_in(by_type["text/html"].astext()) if "text/html" in types else None
            stand_in = nodes.container(classes=["output", "static-stand-in"])
            if found is not None:
                content, ext, n_frames, alt = found
                name = f"stand-in-{hashlib.sha256(content).hexdigest()[:16]}.{ext}"
                (outdir / name).write_bytes(content)
                # a file in the LaTeX output folder: the writer includes it by name
                stand_in += nodes.image(uri=name, candidates={"*": name}, alt=alt or "first frame")
                note = (
                    f"Animation of {n_frames} frames in the HTML edition and in the notebook; "
                    "its first frame is shown here."
                    if n_frames > 1
                    else "Interactive output in the HTML edition; its image is shown here."
                )
            elif WIDGET in types:
                note = (
                    "Interactive widget: run this notebook (Binder, Colab or Jupyter) to use it; "
                    "the HTML edition and this PDF show no widget output."
                )
            else:
                note = (
                    "Interactive output shown in the HTML edition and in a live notebook; "
                    "it has no static form."
                )
            stand_in += nodes.paragraph("", "", nodes.emphasis("", note))
            bundle.replace_self(stand_in)
            LOGGER.info("static stand-in for a browser-only output: %s", note, location=bundle)


class ChapterTitleNames(SphinxPostTransform):
    """Let sphinx-proof find the chapter of a theorem when the chapter title has a typographic quote.

    sphinx-proof numbers a block in LaTeX by walking up to the node whose ``names`` hold the chapter title as
    ``env.titles`` has it, after smart quotes ("The paper’s ..."), while docutils named the section from the
    source text ("the paper's ..."): such a chapter's theorems lose their numbers. The title as ``env.titles``
    has it is added to the names.
    """

    default_priority = 20
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        """Add each chapter's smart-quoted title to its section's names."""
        for node in self.document.findall(nodes.Element):
            docname = node.get("docname")
            if isinstance(docname, str) and docname in self.env.titles:
                title = self.env.titles[docname].astext().lower()
                if "names" in node and title not in node["names"]:
                    node["names"].append(title)


def _is_citation_section(node: nodes.Node) -> bool:
    return isinstance(node, nodes.section) and any(True for _ in node.findall(nodes.citation))


class MarkBibliographyPage(SphinxPostTransform):
    """Mark the chapter holding the citations, before Sphinx moves them to the end of the book."""

    default_priority = (
        745  # after sphinx-jupyterbook-latex's arrangement (700), before BibliographyTransform (750)
    )
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        """Mark the innermost sections that hold citations (the bibliography page)."""
        for section in list(self.document.findall(_is_citation_section)):
            inner = section.findall(nodes.section, include_self=False)
            if not any(_is_citation_section(sub) for sub in inner):
                section["pdf_bibliography"] = True


class BookStructure(SphinxPostTransform):
    """Start the appendix at the first unnumbered part after a numbered one; drop the emptied bibliography."""

    default_priority = 800  # after the bibliography is gathered at the end (750)
    formats = ("latex",)

    def run(self, **kwargs: Any) -> None:
        r"""Insert ``\appendix`` and move the bibliography page's title onto the gathered bibliography."""
        for section in list(self.document.findall(nodes.section)):
            if not section.get("pdf_bibliography"):
                continue
            content = [c for c in section.children if not isinstance(c, nodes.title)]
            if any(c.astext().strip() or any(True for _ in c.findall(nodes.image)) for c in content):
                continue  # something besides the citations: keep the page
            title = section.next_node(nodes.title)
            holder = section.parent if isinstance(section.parent, addnodes.start_of_file) else section
            holder.parent.remove(holder)
            if title is not None:
                raw = r"\renewcommand{\bibname}{" + _latex_escape(title.astext()) + "}"
                self.document += nodes.raw("", raw + "\n", format="latex")
                for bib in list(self.document.findall(thebibliography)):  # after the new \bibname
                    bib.parent.remove(bib)
                    self.document += bib
            LOGGER.info(
                "bibliography page %r: its citations are printed at the end of the book",
                title and title.astext(),
            )

        site_map = getattr(self.config, "external_site_map", None)
        if site_map is None:
            return
        numbered = [(subtree.caption, bool(subtree.numbered)) for subtree in site_map.root.subtrees]
        appendix = next(
            (
                caption
                for i, (caption, num) in enumerate(numbered)
                if caption and not num and any(n for _, n in numbered[:i])
            ),
            None,
        )
        if appendix is None:
            return
        for section in self.document.findall(nodes.section):
            if section.get("docname") == appendix and section.parent is not None:
                wrapper = (
                    section.parent.parent if isinstance(section.parent, addnodes.start_of_file) else section
                )
                wrapper.parent.insert(
                    wrapper.parent.index(wrapper), nodes.raw("", "\\appendix\n", format="latex")
                )
                LOGGER.info("part %r: the appendix starts here", appendix)
                break


def _latex_escape(text: str) -> str:
    return re.sub(r"([#$%&_{}])", r"\\\1", text).replace("~", r"\textasciitilde{}").replace("^", r"\^{}")


def _remember_numbering(app: Sphinx, config: Config) -> None:
    app.pdf_edition_secnum_depth = config.numfig_secnum_depth


def _keep_html_numbering(app: Sphinx) -> None:
    # sphinx-jupyterbook-latex sets numfig_secnum_depth = 2 when the toc has parts, so that LaTeX (whose top
    # level is then the part) resets figure and equation numbers per chapter. But Sphinx numbers exercises
    # and theorems with the same setting while it reads the book, where chapters are the top level:
    # "Exercise 1.8.1" instead of the HTML book's "Exercise 1.1". Read with the book's own depth, write with
    # the shifted one.
    depth = getattr(app, "pdf_edition_secnum_depth", None)
    if depth is not None and app.builder.format == "latex":
        app.config.numfig_secnum_depth = depth


def _latex_numbering(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    # at write time (the LaTeX builder resolves the assembled book just before it creates the writer)
    depth = getattr(app, "pdf_edition_secnum_depth", None)
    if depth and app.builder.format == "latex" and app.config.latex_toplevel_sectioning == "part":
        app.config.numfig_secnum_depth = depth + 1  # LaTeX counts the part as a level


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the post-transforms (Sphinx extension entry point)."""
    app.connect("config-inited", _remember_numbering)
    app.connect("builder-inited", _keep_html_numbering, priority=900)  # after sphinx-jupyterbook-latex
    app.connect("doctree-resolved", _latex_numbering)
    app.add_post_transform(StaticStandIns)
    app.add_post_transform(ChapterTitleNames)
    app.add_post_transform(MarkBibliographyPage)
    app.add_post_transform(BookStructure)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
