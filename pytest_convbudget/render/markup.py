"""Untrusted names made inert: one function per output context.

A run file is written by a pull request's code, so every name in it (test
id, measurement, module, layer type, kind, limit source, device, note) may
hold markup or invisible characters. :func:`visible` shows every control and
format character as an escape, so no name can move the cursor, colour a
terminal, break a line or reorder text; the wrappers below add what each
context needs on top. An ordinary name (``tests/test_a.py::test_b[x-1]``,
``layer1.0.conv1``) comes out of each exactly as it went in.
"""

from __future__ import annotations

import html
import re
import unicodedata

_HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}  # controls, format (bidi, zero-width), lone surrogates, line separators
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _shown(char: str) -> str:
    if char in _SHORT:
        return _SHORT[char]
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"


def visible(text: str) -> str:
    """``text`` with every character that acts rather than shows (newline, ESC, NUL, DEL, C1,
    bidi overrides, zero-width, line separators) written as its escape: ``\\n``, ``\\x1b``, ``\\u202e``."""
    if text.isprintable():  # the common case, fast; isprintable() is False for each hidden category
        return text
    return "".join(_shown(char) if unicodedata.category(char) in _HIDDEN else char for char in text)


def code_span(text: str) -> str:
    """A markdown inline code span: no markdown inside, backticks made quotes, pipes escaped for tables."""
    return "`" + visible(text).replace("`", "'").replace("|", "\\|") + "`"


def html_code(text: str) -> str:
    """A ``<code>`` element for HTML written into markdown (a ``<summary>``), where code spans are not read."""
    return "<code>" + html.escape(visible(text)) + "</code>"


# Letters, digits and the punctuation of test ids and module paths, starting with a letter or digit...
_PLAIN = re.compile(r"[^\W_][\w.\-/:\[\],=+ ]*")
# ...but not a list marker, an emphasis underscore, an autolink, an emoji code or a GitHub reference.
_MARKUP = re.compile(r"^\d+\.(?: |$)|(?<!\w)_|_(?!\w)|://|(?i:www\.|\bgh-\d)|:[a-z0-9_+\-]+:")


def inert(text: str) -> bool:
    """Whether ``text`` reads as itself in GitHub markdown, in HTML, and in a terminal."""
    return bool(_PLAIN.fullmatch(text)) and not _MARKUP.search(text) and visible(text) == text


def markdown_text(text: str) -> str:
    """A name inside a markdown sentence: as it is when :func:`inert`, else a code span."""
    return text if inert(text) else code_span(text)


def summary_code(text: str) -> str:
    """A name inside an HTML block (``<details><summary>``), where GitHub reads no markdown:
    always an escaped :func:`html_code` (backticks there would show as backticks)."""
    return html_code(text)
