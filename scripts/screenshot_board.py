#!/usr/bin/env python3
"""Screenshot a rendered leaderboard page with headless Chromium, so a person can look at it.

    python scripts/screenshot_board.py [leaderboards/index.html] [--out board.png] [--size 1400,2000]

Needs Chromium (Debian: ``apt-get install -y chromium``; or set ``CHROMIUM=/path/to/chrome``).
The page is opened from disk with networking disabled; nothing is fetched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$CHROMIUM``, else the first Chromium-like browser on PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


def chromium_args(browser: str, profile: str) -> list[str]:
    """Headless, sandbox-less (CI runs as root), and with every background network feature off."""
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]


def screenshot(page: Path, png: Path, size: str = "1400,2000", timeout: float = 120) -> Path:
    browser = find_chromium()
    if browser is None:
        raise SystemExit("chromium not found: apt-get install -y chromium (or set CHROMIUM=/path/to/chrome)")
    png = png.resolve()
    with tempfile.TemporaryDirectory(prefix="flm-chromium-") as profile:
        cmd = chromium_args(browser, profile) + [
            f"--screenshot={png}",
            f"--window-size={size}",
            page.resolve().as_uri(),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0 or not png.exists():
        raise SystemExit(f"chromium failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return png


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", nargs="?", type=Path, default=Path("leaderboards/index.html"))
    parser.add_argument("--out", type=Path, default=Path("board.png"), help="PNG to write (default: board.png)")
    parser.add_argument("--size", default="1400,2000", help="window size WIDTH,HEIGHT (default: 1400,2000)")
    args = parser.parse_args(argv)
    if not args.page.exists():
        raise SystemExit(f"no page at {args.page}: run `flm-bench leaderboard render` first")
    print(screenshot(args.page, args.out, args.size))


if __name__ == "__main__":
    sys.exit(main())
