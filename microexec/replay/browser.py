"""Headless Chromium (Debian's ``chromium``) over report.html: the DOM as rendered, and a screenshot.

Why a browser and not an HTML parser: the report is for people, so "it renders" means a real
engine laid it out (CSS, inline SVG). Used by the test suite and to refresh docs/img/replay_report.png:

    python -m microexec.replay.browser OUT/report.html docs/img/replay_report.png
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars")


class BrowserMissing(RuntimeError):
    """No ``chromium`` on PATH (scripts/test installs Debian's package)."""


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise BrowserMissing("Debian's chromium is not installed (apt-get install -y chromium; scripts/test does it)")
    return exe


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="replay-chromium-") as profile:
        return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, check=False)


def dump_dom(html: Path, timeout: float = 120.0) -> str:
    """The document as Chromium serialises it after loading ``html``."""
    done = _run(["--dump-dom", html.resolve().as_uri()], timeout)
    if done.returncode != 0:
        raise RuntimeError(f"chromium --dump-dom failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def screenshot(html: Path, png: Path, width: int = 1400, height: int = 2400, timeout: float = 120.0) -> Path:
    """A ``width`` x ``height`` PNG of the page's top."""
    png.parent.mkdir(parents=True, exist_ok=True)
    done = _run([f"--window-size={width},{height}", f"--screenshot={png.resolve()}", html.resolve().as_uri()],
                timeout)
    if done.returncode != 0 or not png.is_file():
        raise RuntimeError(f"chromium --screenshot failed ({done.returncode}): {done.stderr[-2000:]}")
    return png


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m microexec.replay.browser REPORT.html OUT.png")
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
