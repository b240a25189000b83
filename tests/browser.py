"""Headless Chromium for the tests marked ``browser``: skipped with the reason where it is missing,
except under CI (``CI`` set), which always runs them, so there a missing browser is a failure."""

from __future__ import annotations

import shutil
from collections.abc import Mapping

import pytest

NAMES = ("chromium", "chromium-browser")
INSTALL = "install it to run them (Debian/Ubuntu: apt-get install -y chromium)"


def chromium(environ: Mapping[str, str]) -> str:
    """The browser on ``environ``'s PATH; without one, skip the test (fail it when ``CI`` is set)."""
    for name in NAMES:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return found
    reason = f"browser tests need headless Chromium: neither {' nor '.join(NAMES)} is on PATH; {INSTALL}"
    if environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, and CI runs every browser test)", pytrace=False)
    pytest.skip(reason)
