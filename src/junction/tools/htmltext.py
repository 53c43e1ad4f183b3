"""Readable text from an HTML page, for a model to read: a small Markdown rendering of
the page's content without its scripts, styles, navigation, forms and other chrome.

A whole-page converter rather than an article extractor: everything a reader would see
as content is kept (headings, paragraphs, lists, tables, code, link text), so small and
unusual pages come through whole, and boilerplate is dropped by structure — HTML5
landmarks (``nav``, the page's own ``header``/``footer``, ``aside``), ARIA roles,
hidden elements and the usual class names of menus, sidebars and cookie banners. When
the page marks its content with ``<main>`` (or ``role="main"``), only that is kept.

Built on the standard library's tolerant ``html.parser``; a page of 100 kB takes a few
milliseconds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

#: never content: their text is code, markup or controls
_DROP = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "math",
        "iframe",
        "object",
        "embed",
        "canvas",
        "select",
        "button",
        "textarea",
        "dialog",
        "head",
        "title",
    }
)
#: page chrome by HTML5 semantics (``header``/``footer`` only outside an article)
_CHROME = frozenset({"nav", "aside", "menu"})
_LANDMARKS = frozenset({"header", "footer"})
_ROLES = frozenset(
    {
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "search",
        "menu",
        "menubar",
        "toolbar",
        "dialog",
        "alertdialog",
        "tablist",
    }
)
#: class / id words of chrome (whole words of a class or id, split at - and _)
_CHROME_WORDS = frozenset(
    {
        "nav",
        "navbar",
        "navigation",
        "menu",
        "menubar",
        "sidebar",
        "breadcrumb",
        "breadcrumbs",
        "cookie",
        "cookies",
        "consent",
        "gdpr",
        "advert",
        "advertisement",
        "ads",
        "social",
        "share",
        "sharing",
        "newsletter",
        "popup",
        "modal",
        "skiplink",
        "skip",
        "toolbar",
        "masthead",
    }
)
_CHROME_IDS = frozenset({"header", "footer", "site-header", "site-footer", "page-footer"})
_WORD_SPLIT = re.compile(r"[\s_-]+")
_VOID = frozenset(
    {
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    }
)
_BLOCK = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "body",
        "center",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "header",
        "hgroup",
        "html",
        "legend",
        "li",
        "main",
        "ol",
        "p",
        "section",
        "summary",
        "table",
        "tbody",
        "thead",
        "tfoot",
        "tr",
        "ul",
    }
)
_INLINE_CODE = frozenset({"code", "kbd", "samp"})
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_BLANKS = re.compile(r"\n{3,}")


@dataclass
class Page:
    title: str | None
    text: str


def _is_chrome(tag: str, attrs: dict[str, str | None], in_article: bool) -> bool:
    if tag in _CHROME:
        return True
    if tag in _LANDMARKS and not in_article:
        return True
    if "hidden" in attrs or (attrs.get("aria-hidden") or "").lower() == "true":
        return True
    if _HIDDEN_STYLE.search(attrs.get("style") or ""):
        return True
    if (attrs.get("role") or "").lower() in _ROLES:
        return True
    if tag in {"html", "body", "main", "article"}:
        return False
    ident = (attrs.get("id") or "").lower()
    if ident in _CHROME_IDS:
        return True
    words = set(_WORD_SPLIT.split(f"{attrs.get('class') or ''} {ident}".lower()))
    return not words.isdisjoint(_CHROME_WORDS)


class _Renderer(HTMLParser):
    def __init__(self, *, heuristics: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.heuristics = heuristics
        self.out: list[str] = []  # the whole page
        self.main_out: list[str] = []  # inside <main>, when there is one
        self.title_parts: list[str] = []
        self.h1: str | None = None
        self._h1_parts: list[str] | None = None
        self._in_title = False
        self._in_body = False
        # A skipped subtree: its tag and how many of that tag are open inside it.
        self._skip: tuple[str, int] | None = None
        self._pre = 0
        self._main = 0
        self._article = 0
        self._lists: list[str] = []
        self._cells = 0
        self._header_row = False
        self._in_cell = False
        self._rows: list[int] = []  # rows written so far, per open table
        self._after_marker = False  # a list item's marker was the last thing written
        self._pending_break = ""  # "\n" or "\n\n" owed before the next text

    # -- output --------------------------------------------------------------------------
    def _emit(self, text: str) -> None:
        if self._pending_break:
            self._write(self._pending_break)
            self._pending_break = ""
        self._write(text)

    def _write(self, text: str) -> None:
        self._after_marker = False
        self.out.append(text)
        if self._main:
            self.main_out.append(text)

    def _drop_space_break(self) -> None:
        if self._pending_break == " ":
            self._pending_break = ""

    def _break(self, kind: str = "\n\n") -> None:
        if self._after_marker:
            return
        if self._in_cell:  # a table row stays on one line
            if self.out and not self.out[-1].endswith(" "):
                self._pending_break = self._pending_break or " "
            return
        if len(kind) > len(self._pending_break):
            self._pending_break = kind

    # -- parser callbacks ----------------------------------------------------------------
    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self._in_body = True
        elif tag == "title" and not self._in_body and not self.title_parts:
            self._in_title = True
        if self._skip is not None:
            if tag == self._skip[0] and tag not in _VOID:
                self._skip = (tag, self._skip[1] + 1)
            return
        attrs = dict(attr_list)
        if tag in _DROP or (
            self.heuristics and _is_chrome(tag, attrs, self._article > 0 or self._main > 0)
        ):
            if tag not in _VOID:
                self._skip = (tag, 0)
            return
        if tag == "main" or (attrs.get("role") or "").lower() == "main":
            self._main += 1
        if tag == "article":
            self._article += 1
        if tag in _HEADINGS:
            self._break()
            self._emit("#" * _HEADINGS[tag] + " ")
            if tag == "h1" and self.h1 is None:
                self._h1_parts = []
        elif tag in ("ul", "ol"):
            if self._lists and self._pending_break:
                self._pending_break = "\n"  # a nested list hangs under its item
            self._lists.append(tag)
            self._break("\n")
        elif tag == "li":
            self._break("\n")
            depth = max(0, len(self._lists) - 1)
            marker = "1." if self._lists and self._lists[-1] == "ol" else "-"
            self._emit("  " * depth + marker + " ")
            self._after_marker = True
        elif tag == "pre":
            self._break()
            self._emit("```\n")
            self._pre += 1
        elif tag == "table":
            self._in_cell = False
            self._break()
            self._rows.append(0)
        elif tag == "tr":
            self._in_cell = False
            self._break("\n")
            self._cells = 0
            self._header_row = False
        elif tag in ("td", "th"):
            self._in_cell = False
            self._drop_space_break()
            self._emit(" | " if self._cells else "| ")
            self._in_cell = True
            self._cells += 1
            self._header_row = self._header_row or tag == "th"
        elif tag in _INLINE_CODE:
            if not self._pre:
                self._emit("`")
        elif tag == "br":
            if self._pre:
                self._write("\n")
            else:
                self._break("\n")
        elif tag == "hr":
            self._break()
        elif tag == "blockquote":
            self._break()
            self._emit("> ")
        elif tag in _BLOCK:
            self._break("\n" if tag in ("div", "dt", "dd") else "\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if self._skip is not None:
            name, depth = self._skip
            if tag == name:
                self._skip = None if depth == 0 else (name, depth - 1)
            return
        if tag == "main" and self._main:
            self._main -= 1
        elif tag == "article" and self._article:
            self._article -= 1
        if tag in _HEADINGS:
            if self._h1_parts is not None and tag == "h1":
                self.h1 = _SPACE.sub(" ", "".join(self._h1_parts)).strip() or None
                self._h1_parts = None
            self._break()
        elif tag in ("ul", "ol"):
            if self._lists:
                self._lists.pop()
            self._break("\n" if self._lists else "\n\n")
        elif tag == "pre":
            if self._pre:
                self._pre -= 1
                self._write("```" if self.out and self.out[-1].endswith("\n") else "\n```")
            self._break()
        elif tag in _INLINE_CODE:
            if not self._pre:
                if self.out and self.out[-1].endswith("`"):
                    self.out.pop()  # nothing inside: drop the opening quote
                    if self._main and self.main_out:
                        self.main_out.pop()
                else:
                    self._write("`")
        elif tag in ("td", "th"):
            self._in_cell = False
            self._drop_space_break()
        elif tag == "tr":
            self._in_cell = False
            self._drop_space_break()
            if self._cells:
                self._emit(" |")
                first = bool(self._rows) and self._rows[-1] == 0
                if self._rows:
                    self._rows[-1] += 1
                if first and self._header_row:
                    self._write("\n|" + "---|" * self._cells)
            self._break("\n")
        elif tag == "table":
            self._in_cell = False
            if self._rows:
                self._rows.pop()
            self._break()
        elif tag in _BLOCK or tag == "blockquote":
            self._break("\n" if tag in ("div", "li", "dt", "dd") else "\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._skip is not None:
            return
        if self._pre:
            self._emit(data)
            return
        text = _SPACE.sub(" ", data)
        if self._h1_parts is not None:
            self._h1_parts.append(text)
        if not text.strip():
            if text and self.out and not self.out[-1].endswith((" ", "\n")):
                self._write(" ")
            return
        if self._pending_break or not self.out or self.out[-1].endswith("\n"):
            text = text.lstrip()
        self._emit(text)


def _tidy(parts: list[str]) -> str:
    lines = [line.rstrip() for line in "".join(parts).split("\n")]
    text = "\n".join(lines)
    text = _BLANKS.sub("\n\n", text)
    return text.strip()


def _render(html: str, *, heuristics: bool) -> _Renderer:
    renderer = _Renderer(heuristics=heuristics)
    renderer.feed(html)
    renderer.close()
    return renderer


def extract(html: str) -> Page:
    """The title and readable text of ``html``."""
    page = _render(html, heuristics=True)
    text = _tidy(page.out)
    main = _tidy(page.main_out)
    if len(main) >= 200 or (main and len(main) >= len(text) // 2):
        text = main
    title = _SPACE.sub(" ", "".join(page.title_parts)).strip() or page.h1
    # The chrome rules guess from names; if they took nearly everything, they guessed
    # wrong (a "has-sidebar" wrapper, an unclosed menu): render without them.
    plain = _tidy(_render(html, heuristics=False).out) if len(text) < 500 else ""
    if len(plain) > 200 and len(text) < len(plain) // 5:
        text = plain
    return Page(title=title, text=text)
