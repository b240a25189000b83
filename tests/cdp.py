"""Headless Chromium driven through the DevTools protocol over a pipe (``--remote-debugging-pipe``):
open a page at a window size, evaluate JavaScript, collect console errors, take screenshots.

No websocket and no extra package: Chromium reads requests on fd 3 and writes replies on fd 4,
one JSON message per NUL-terminated chunk.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from browser import chromium  # noqa: E402
from screenshot_board import chromium_args  # noqa: E402  (the flags the screenshot script uses)

sys.path.pop(0)


class Browser:
    """One headless Chromium with one page; ``errors`` collects console errors and exceptions."""

    def __init__(self, profile: Path, width: int, height: int = 1000) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()

        def fds() -> None:  # Chromium reads fd 3 and writes fd 4 (copies first: the pipes may be 3 or 4)
            read, write = os.dup(to_child), os.dup(from_child)
            os.dup2(read, 3)
            os.dup2(write, 4)

        browser = chromium(os.environ)
        args = [*chromium_args(browser, str(profile)), "--remote-debugging-pipe", f"--window-size={width},{height}"]
        self.proc = subprocess.Popen(
            [*args, "about:blank"],
            preexec_fn=fds,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._id, self.errors = b"", 0, []  # type: ignore[var-annotated]
        self.width, self.height = width, height
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no reply from Chromium")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message = json.loads(raw)
        method = message.get("method", "")
        if method == "Runtime.exceptionThrown":
            self.errors.append(message["params"]["exceptionDetails"].get("text", "exception"))
        elif method == "Runtime.consoleAPICalled" and message["params"]["type"] in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in message["params"]["args"]))
        elif method == "Log.entryAdded" and message["params"]["entry"]["level"] == "error":
            self.errors.append(message["params"]["entry"]["text"])
        return message

    def call(self, method: str, session: bool = False, timeout: float = 60, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are recorded)."""
        self._id += 1
        request: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            request["sessionId"] = self.session
        os.write(self._write, json.dumps(request).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            message = self._message(deadline)
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def open(self, url: str, timeout: float = 60) -> None:
        """Load ``url`` and wait until the page's script has finished (``body[data-ready]``)."""
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + timeout
        while not self.js("document.body !== null && document.body.getAttribute('data-ready') === '1'"):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url}: the page's script never finished; errors: {self.errors}")
            time.sleep(0.1)

    def js(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self, png: Path, full_page: bool = True) -> Path:
        """The page as a PNG (the whole page, at the window's width)."""
        height = int(self.js("document.documentElement.scrollHeight")) if full_page else self.height
        shot = self.call(
            "Page.captureScreenshot",
            session=True,
            format="png",
            captureBeyondViewport=full_page,
            clip={"x": 0, "y": 0, "width": self.width, "height": min(height, 12000), "scale": 1},
        )
        png.write_bytes(base64.b64decode(shot["data"]))
        return png

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._read)
        os.close(self._write)
