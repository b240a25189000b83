"""Text from records and plugins, made safe to show: characters that could hide or reorder text
(bidi overrides, zero-width characters), break a file format (controls, NUL) or are no characters
at all (surrogates, noncharacters such as U+FFFF) are found or shown escaped."""

from __future__ import annotations

import unicodedata

#: Unicode categories never drawn as they are: controls, format characters, surrogates, private
#: use, unassigned code points
UNDRAWABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


def first_undrawable(text: str) -> str | None:
    """The first character of ``text`` that must not be shown as it is, or None."""
    if text.isprintable():
        return None
    return next((c for c in text if unicodedata.category(c) in UNDRAWABLE), None)


def printable(text: str) -> str:
    """``text`` with every undrawable character shown as its escape (``\\u202e``); the rest unchanged."""
    if first_undrawable(text) is None:
        return text
    return "".join(
        (f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}") if unicodedata.category(c) in UNDRAWABLE else c
        for c in text
    )


def printable_lines(text: str) -> str:
    """:func:`printable` line by line: line breaks stay (a hover text's lines), the rest is escaped."""
    return "\n".join(printable(line) for line in text.split("\n"))
