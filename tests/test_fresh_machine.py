"""What a fresh machine that followed the README meets: browser tests without Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import chromium


def test_chromium_is_found_on_path(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert chromium({"PATH": str(tmp_path)}) == str(fake)


def test_without_chromium_browser_tests_skip_saying_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        chromium({"PATH": str(tmp_path)})


def test_under_ci_a_missing_chromium_fails(tmp_path: Path) -> None:
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        chromium({"PATH": str(tmp_path), "CI": "true"})
