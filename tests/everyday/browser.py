"""Open a page in headless Chromium through the DevTools protocol over a pipe (no websocket
client, no network): wait for `load`, list every image's natural size, collect console errors and
uncaught exceptions, and take a full-page screenshot.

Chromium is Debian's package `chromium` (/usr/bin/chromium); `.ci/run` installs it.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--disable-extensions", "--remote-debugging-pipe"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    images: list[dict[str, Any]] = field(default_factory=list)  # alt, complete, naturalWidth, naturalHeight
    errors: list[str] = field(default_factory=list)  # console errors, uncaught exceptions, failed loads
    screenshot: bytes = b""
    title: str = ""


class _Pipe:
    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int) -> None:
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from Chromium in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit status {self.proc.poll()})")
                self.buffer += chunk
        raw, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict[str, Any]:
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)


def _stderr() -> Any:
    return None if os.environ.get("GANTUNE_CHROMIUM_STDERR") else subprocess.DEVNULL


def check_page(path: Path, *, width: int = 1280, timeout: float = 60) -> PageCheck:
    """Load `path` (a local HTML file) and report its images, errors and a screenshot."""
    exe = chromium()
    assert exe, "chromium not installed"
    profile = tempfile.mkdtemp(prefix="gantune-chromium-")
    cmd_r, cmd_w = os.pipe()  # we write commands; Chromium reads fd 3
    res_r, res_w = os.pipe()  # Chromium writes fd 4; we read

    def child_fds() -> None:  # in the child, before exec: the pipes become fds 3 and 4
        import fcntl

        high_r, high_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10), fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
        os.dup2(high_r, 3)
        os.dup2(high_w, 4)

    proc = subprocess.Popen([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900", "about:blank"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=_stderr(),
                            pass_fds=(3, 4, cmd_r, res_w), preexec_fn=child_fds, start_new_session=True)
    os.close(cmd_r)
    os.close(res_w)
    pipe = _Pipe(proc, cmd_w, res_r)
    out = PageCheck()
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout)["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        pipe.wait_for("Page.loadEventFired", timeout=timeout)
        probe = ("JSON.stringify({title: document.title, images: [...document.images].map(i => ({alt: i.alt, complete: i.complete, "
                 "naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight})), height: document.documentElement.scrollHeight})")
        value = json.loads(pipe.send("Runtime.evaluate", {"expression": probe, "returnByValue": True}, session=session)["result"]["value"])
        out.images, out.title = value["images"], value["title"]
        pipe.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": int(min(value["height"], 16000)), "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        shot = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session=session, timeout=timeout)
        out.screenshot = base64.b64decode(shot["data"])
        time.sleep(0.2)  # let late console events arrive
        with_deadline = time.monotonic() + 0.5
        while time.monotonic() < with_deadline:
            try:
                pipe.events.append(pipe._read_message(time.monotonic() + 0.1))
            except TimeoutError:
                break
        for event in pipe.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.errors.append("exception: " + json.dumps(params.get("exceptionDetails", {}))[:500])
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.errors.append("log: " + params["entry"].get("text", ""))
        try:
            pipe.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError):
            pass
    finally:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        os.close(cmd_w)
        os.close(res_r)
        shutil.rmtree(profile, ignore_errors=True)
    return out
