"""Typed registries: one per kind of thing plugins register."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from flm_bench.errors import ConfigError, DuplicateNameError, UnknownNameError

#: The "plugin" of specs registered from outside any plugin (see :meth:`Registry.register_local`).
LOCAL = "(suite)"
#: What a registered name may be: it becomes part of record ids and folder names.
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
NAME_RULE = "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64 characters"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=_Named)


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered spec with the plugin (distribution) that registered it."""

    spec: T
    plugin: str  # the distribution that registered it
    origin: str  # "distribution:entry-point", for messages


class Registry(Generic[T]):
    """Name -> spec, remembering which plugin registered each name.

    A name registered twice is an error that names both plugins, and stays unusable:
    nothing silently picks one of the two.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._conflicts: dict[str, DuplicateNameError] = {}
        self.load_failures: list[str] = []  # set by the plugin loader, quoted in lookups

    def register(self, spec: T, plugin: str, origin: str | None = None) -> None:
        """Add ``spec`` as registered by distribution ``plugin``; raise on a duplicate name."""
        origin = origin or plugin
        name = spec.name
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise ConfigError(f"{self.kind} name {name!r} registered by plugin {origin!r} is not {NAME_RULE}")
        previous = self._entries.get(name)
        if previous is not None or name in self._conflicts:
            first = previous.origin if previous else self._conflicts[name].first
            error = DuplicateNameError(
                f"{self.kind} {name!r} is registered by both plugin {first!r} and plugin {origin!r}",
                first,
                origin,
            )
            self._entries.pop(name, None)
            self._conflicts[name] = error
            raise error
        self._entries[name] = Entry(spec, plugin, origin)

    def register_local(self, spec: T, origin: str) -> None:
        """Add ``spec`` from outside any plugin (a suite's own datasets); it replaces an earlier
        local spec of the same name, but a name a plugin registered is an error naming both."""
        previous = self._entries.get(spec.name)
        if previous is not None and previous.plugin == LOCAL:
            del self._entries[spec.name]
        self.register(spec, LOCAL, origin)

    def get(self, name: str) -> T:
        """The spec registered as ``name``."""
        return self.entry(name).spec

    def entry(self, name: str) -> Entry[T]:
        """The entry registered as ``name``; unknown names suggest close ones."""
        if name in self._conflicts:
            raise DuplicateNameError(self._conflicts[name].args[0])
        try:
            return self._entries[name]
        except KeyError:
            pass
        message = f"unknown {self.kind} {name!r}"
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.8)
        if close:
            message += ". Did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif self._entries:
            message += f"; known: {', '.join(sorted(self._entries))}"
        if self.load_failures:
            message += f" (plugins that failed to load: {'; '.join(self.load_failures)})"
        raise UnknownNameError(message)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.spec.name))

    def __len__(self) -> int:
        return len(self._entries)
