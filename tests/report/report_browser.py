"""Headless Chromium helpers: find it, run it offline, read back which images decoded."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--host-resolver-rules=MAP * ~NOTFOUND"]

#: appended to a COPY of the report (the report itself has no script): when the page has
#: loaded, write each image's decoded width (or -1 if it failed) into the title
PROBE = ("<script>window.addEventListener('load', () => { document.title = 'IMAGES:' + "
         "[...document.images].map(i => i.complete && i.naturalWidth > 0 ? i.naturalWidth : -1)"
         ".join(','); });</script>")
POLICY = "default-src 'none';"


def find_chromium() -> str:
    """The Chromium binary; skip locally when absent, FAIL in CI (``.ci/run`` installs it)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
    pytest.skip("chromium is not installed")


def run_chromium(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium offline with a fresh profile in ``tmp``."""
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    proc = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def loaded_image_widths(chromium: str, report: Path, tmp: Path) -> tuple[list[int], str]:
    """Each image's decoded width in page order (-1: failed), and the rendered DOM."""
    page = report.read_text(encoding="utf-8")
    assert page.count(POLICY) == 1
    probe = tmp / "probe.html"
    probe.write_text(page.replace(POLICY, POLICY + " script-src 'unsafe-inline';")
                     .replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = run_chromium(chromium, tmp, "--dump-dom", probe.as_uri()).stdout
    title = re.search(r"<title>IMAGES:([-0-9,]*)</title>", dom)
    assert title, "the page did not finish loading: " + dom[:300]
    return [int(w) for w in title.group(1).split(",") if w], dom


def layout_at_width(chromium: str, report: Path, tmp: Path, width: int,
                    height: int = 900) -> dict[str, int]:
    """Lay the page out in a window ``width`` px wide: the page's scroll width, the window's
    inner width and height, and where the answer box starts (its top, in px)."""
    page = report.read_text(encoding="utf-8")
    probe = tmp / f"layout-{width}.html"
    script = ("<script>window.addEventListener('load', () => { const a = "
              "document.getElementById('answer'); document.title = 'LAYOUT:' + ["
              "document.documentElement.scrollWidth, window.innerWidth, window.innerHeight, "
              "a ? Math.round(a.getBoundingClientRect().top) : -1].join(','); });</script>")
    probe.write_text(page.replace(POLICY, POLICY + " script-src 'unsafe-inline';")
                     .replace("</body>", script + "</body>"), encoding="utf-8")
    dom = run_chromium(chromium, tmp, f"--window-size={width},{height}", "--dump-dom",
                       probe.as_uri()).stdout
    found = re.search(r"<title>LAYOUT:([-0-9,]*)</title>", dom)
    assert found, "the page did not finish loading: " + dom[:300]
    keys = ("scroll_width", "inner_width", "inner_height", "answer_top")
    return dict(zip(keys, (int(v) for v in found.group(1).split(",")), strict=True))
