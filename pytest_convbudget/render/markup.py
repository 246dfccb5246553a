"""GitHub markdown escaping, shared by the comment and its block bars.

A test id or module name goes into a code span (monospace, no markdown
inside) with backticks made quotes and pipes escaped, so no name can break
a table or inject markup.
"""

from __future__ import annotations


def code_span(text: str) -> str:
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"
