"""Strings from records and references on a board: on one line, and citations with their links."""

from __future__ import annotations

import re

from flm_bench.text import printable

_LINK = re.compile(
    r"\b(?:arXiv:?\s*(\d{4}\.\d{4,5})|doi:?\s*(10\.\d{4,9}/\S+[^\s.,;)])|(https://[^\s<>\"]+[^\s<>\".,;)]))"
)


def citation_parts(text: str) -> list[tuple[str, str | None]]:
    """A citation as (text, link or None) pieces: arXiv ids, DOIs and https addresses become links."""
    parts: list[tuple[str, str | None]] = []
    last = 0
    for m in _LINK.finditer(text):
        parts.append((text[last : m.start()], None))
        arxiv, doi, url = m.groups()
        href = f"https://arxiv.org/abs/{arxiv}" if arxiv else f"https://doi.org/{doi}" if doi else url
        parts.append((m.group(0), href))
        last = m.end()
    parts.append((text[last:], None))
    return [(t, h) for t, h in parts if t]


def oneline(text: str) -> str:
    """A record string on one line (whitespace runs become one space), and printable."""
    return printable(" ".join(str(text).split()))
