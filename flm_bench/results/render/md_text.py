"""Markdown text from record strings: inert table-cell text, citations with links, tables."""

from __future__ import annotations

import re

from flm_bench.results.render.strings import citation_parts, oneline

_MD_BACKSLASH = re.compile(r"([\\`*_\[\]|~#])")


def md_escape(text: str) -> str:
    """A record string as inert Markdown table-cell text: no markup, no HTML, no pipes, one line."""
    return _inert(oneline(text))


def _inert(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_BACKSLASH.sub(r"\\\1", text)


def md_citation(text: str) -> str:
    """A citation as Markdown text, its arXiv ids, DOIs and https addresses as links."""
    safe = {ord("("): "%28", ord(")"): "%29", ord(" "): "%20", ord("|"): "%7C"}
    parts = citation_parts(oneline(text))
    return "".join(f"[{_inert(t)}]({h.translate(safe)})" if h else _inert(t) for t, h in parts)


def md_table(header: list[str], rows: list[list[str]], align: list[str]) -> list[str]:
    """A Markdown table's lines; ``align``: "l" (left) or anything else (right) per column."""
    if len(align) != len(header) or any(len(row) != len(header) for row in rows):
        raise ValueError(f"markdown table: {len(header)} columns, {len(align)} alignments, rows of other widths")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines
