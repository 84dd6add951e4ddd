"""HTML → PDF with headless Chromium, one browser for a whole batch (DevTools over a pipe).

Chromium's ``--print-to-pdf`` flag starts a browser per file (~1 s each); instead one browser is
started with ``--remote-debugging-pipe`` and every page is printed with ``Page.printToPDF``.
The protocol is NUL-separated JSON on file descriptors 3 (commands) and 4 (replies), so only
the standard library is needed. Set ``KYORYOKU_CHROMIUM`` to choose the browser binary.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import signal
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from .._errors import MatcherError
from ..settings import get_settings

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
TIMEOUT_S = 120.0
# Run before each page's own content: the page is only printed, so its screen layout (made on
# loading, then thrown away when printing lays it out again for paper) is skipped by hiding the
# body on screen. Print media never sees this sheet: the PDFs are byte-for-byte the same.
# Measured on 東京都 (batches of 24 letters): loading 0.12 → 0.06 s a batch, browser CPU −12–17 %.
SCREEN_HIDDEN_JS = (
    "{const s = new CSSStyleSheet(); s.replaceSync('@media screen { body { display: none } }');"
    " document.adoptedStyleSheets = [...document.adoptedStyleSheets, s];}"
)


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered 10 or more, so moving them onto fds 3 and 4 never clashes."""
    r, w = os.pipe()
    hr, hw = fcntl.fcntl(r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(r)
    os.close(w)
    return hr, hw


def _wait_pid(pid: int, timeout: float) -> bool:
    """Reap ``pid`` within ``timeout`` seconds; ``False`` if it is still running."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return True
        if done:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)


class ReportError(MatcherError, RuntimeError):
    """A report could not be written (e.g. the PDF renderer failed)."""


def find_chromium() -> str | None:
    """Path of a Chromium-based browser: ``$KYORYOKU_CHROMIUM``, then the usual names on PATH."""
    env = get_settings().chromium or None
    if env:
        return env if Path(env).is_file() else shutil.which(env)
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


class ChromiumPrinter:
    """A headless Chromium kept open to print many local HTML files to PDF.

    Use as a context manager; ``print_pdf(html, pdf)`` writes one PDF (page size and margins from
    the page's ``@page`` CSS, backgrounds printed, no browser header/footer). Pages are never
    laid out for the screen (``SCREEN_HIDDEN_JS``): a script that measures the page on loading
    sees a hidden body.
    """

    def __init__(self, executable: str | None = None, timeout: float = TIMEOUT_S) -> None:
        exe = executable or find_chromium()
        if not exe:
            raise ReportError("Chromium が見つかりません (Debian: apt-get install chromium)")
        self.executable = exe
        self.timeout = timeout
        self._pid: int | None = None
        self._cmd_w: int | None = None
        self._res_r: int | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._buf = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []  # DevTools protocol messages (JSON)
        self._session = ""

    # -- process ---------------------------------------------------------------------------
    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        self._profile = tempfile.TemporaryDirectory(prefix="kyoryoku-chromium-")
        self._log = Path(self._profile.name) / "chromium.log"
        cmd_r, self._cmd_w = _high_pipe()
        self._res_r, res_w = _high_pipe()
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            "about:blank",
        ]
        # posix_spawn (thread-safe, unlike preexec_fn) puts the pipe ends on fds 3 and 4 as the
        # protocol requires; the log goes to a file, since an unread pipe could stall the browser.
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, str(self._log), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
            (os.POSIX_SPAWN_DUP2, cmd_r, 3),
            (os.POSIX_SPAWN_DUP2, res_w, 4),
        ]
        try:
            self._pid = os.posix_spawn(
                self.executable,
                [self.executable, *args],
                os.environ,
                file_actions=actions,
                setpgroup=0,
            )
        except OSError as exc:
            raise ReportError(f"Chromium を起動できません ({self.executable}): {exc}") from None
        finally:
            os.close(cmd_r)
            os.close(res_w)
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        self._call("Page.enable", session=self._session)
        self._call(
            "Page.addScriptToEvaluateOnNewDocument",
            {"source": SCREEN_HIDDEN_JS},
            session=self._session,
        )

    def close(self) -> None:
        pid, self._pid = self._pid, None
        if pid is not None:
            try:
                self._send("Browser.close", {})
            except (OSError, ReportError):
                pass
            if not _wait_pid(pid, 10.0):
                try:
                    os.killpg(pid, signal.SIGKILL)  # the browser and its renderer processes
                except ProcessLookupError:
                    pass
                _wait_pid(pid, 10.0)
        for fd in (self._cmd_w, self._res_r):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._cmd_w = self._res_r = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def cpu_seconds(self) -> float | None:
        """CPU seconds used so far by the browser and every process it started (its process
        group, read from ``/proc``; ``None`` where there is none): the benchmark's measure of
        what printing costs beside Python."""
        if self._pid is None or not Path("/proc").is_dir():
            return None
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == self._pid:  # the process group the browser leads
                total += sum(int(f) for f in fields[11:15])  # own and reaped children's time
        return total / tick

    # -- protocol --------------------------------------------------------------------------
    def _send(self, method: str, params: dict[str, Any], session: str = "") -> int:
        self._next_id += 1
        msg: dict[str, object] = {"id": self._next_id, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        assert self._cmd_w is not None  # set by start(), before anything is sent
        try:
            os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        except BrokenPipeError:  # the browser is gone (e.g. it could not start)
            raise self._exited() from None
        return self._next_id

    def _exited(self) -> ReportError:
        detail = self._log.read_text(errors="replace")[-500:] if self._log.is_file() else ""
        return ReportError(f"Chromium が終了しました {detail}".strip())

    def _read(self) -> dict[str, Any]:
        assert self._res_r is not None  # set by start(), before anything is read
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._res_r], [], [], max(left, 0))
            if not ready:
                raise ReportError(f"Chromium が {self.timeout:.0f} 秒以内に応答しません")
            chunk = os.read(self._res_r, 1 << 20)
            if not chunk:
                raise self._exited()
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: str = ""
    ) -> dict[str, Any]:
        want = self._send(method, params or {}, session)
        while True:
            msg = self._read()
            if msg.get("id") == want:
                if "error" in msg:
                    raise ReportError(
                        f"Chromium の {method} が失敗しました: {msg['error'].get('message')}"
                    )
                result: dict[str, Any] = msg.get("result", {})
                return result
            if "method" in msg:
                self._events.append(msg)

    def _wait_event(self, method: str) -> dict[str, Any]:
        for k, e in enumerate(self._events):
            if e.get("method") == method and e.get("sessionId") == self._session:
                return self._events.pop(k)
        while True:
            msg = self._read()
            if msg.get("method") == method and msg.get("sessionId") == self._session:
                return msg
            if "method" in msg:
                self._events.append(msg)

    # -- printing --------------------------------------------------------------------------
    def print_pdf(self, html: str | Path, pdf: str | Path) -> Path:
        """Print a local HTML file to ``pdf`` and return its path."""
        out = Path(pdf)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(self.pdf_bytes(html))
        return out

    def pdf_bytes(self, html: str | Path) -> bytes:
        """Print a local HTML file and return the PDF's bytes.

        Untagged: Chromium's tagged-PDF structure tree costs ~40 % of the printing time and
        ~2/3 of the size, and these documents are printed on paper.
        """
        if self._pid is None:
            raise ReportError("ChromiumPrinter は開始されていません")
        url = Path(html).resolve().as_uri()
        self._events.clear()
        nav = self._call("Page.navigate", {"url": url}, session=self._session)
        if nav.get("errorText"):
            raise ReportError(f"{url} を開けません: {nav['errorText']}")
        self._wait_event("Page.loadEventFired")
        result = self._call(
            "Page.printToPDF",
            {
                "printBackground": True,
                "preferCSSPageSize": True,
                "displayHeaderFooter": False,
                "generateTaggedPDF": False,
            },
            session=self._session,
        )
        return base64.b64decode(result["data"])


def pdf_backend() -> tuple[str | None, str]:
    """(browser path or ``None``, a Japanese sentence saying what PDF output will be made)."""
    exe = find_chromium()
    if exe:
        return exe, f"PDF は Chromium ({exe}) で作成します"
    return None, (
        "PDF は作成していません: Chromium が見つかりません。HTML をブラウザで開いて印刷できます "
        "(Debian: apt-get install chromium、または KYORYOKU_CHROMIUM にブラウザのパスを指定)"
    )
