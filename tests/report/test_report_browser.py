"""Render the report in real headless Chromium: it loads, every image decodes, it is not blank.

Chromium runs offline (host resolver maps every name to nothing), so the test would also catch a
page that needed the network. In CI (``CI`` set) a missing Chromium is a failure, not a skip:
``.ci/run`` installs Debian's ``chromium`` package.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image as mpimg
import pytest
from report_pagecheck import parse

from emergence_law.report import build_report

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--host-resolver-rules=MAP * ~NOTFOUND"]

#: appended to a COPY of the report (the report itself has no script): when the page has
#: loaded, write each image's decoded width (or -1 if it failed) into the title
PROBE = ("<script>window.addEventListener('load', () => { document.title = 'IMAGES:' + "
         "[...document.images].map(i => i.complete && i.naturalWidth > 0 ? i.naturalWidth : -1)"
         ".join(','); });</script>")


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    if IN_CI:
        pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
    pytest.skip("chromium is not installed")


def _run(chromium: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    proc = subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


@pytest.fixture(scope="module")
def report(full_results: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_report(full_results, tmp_path_factory.mktemp("browser") / "report.html")


def test_every_image_loads_in_chromium(chromium: str, report: Path, full_results: Path,
                                       tmp_path: Path) -> None:
    page = report.read_text(encoding="utf-8")
    policy = "default-src 'none';"
    assert page.count(policy) == 1
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace(policy, policy + " script-src 'unsafe-inline';")
                     .replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = _run(chromium, tmp_path, "--dump-dom", probe.as_uri()).stdout
    title = re.search(r"<title>IMAGES:([-0-9,]*)</title>", dom)
    assert title, "the page did not finish loading: " + dom[:300]
    widths = sorted(int(w) for w in title.group(1).split(","))
    # the widths Chromium decoded equal the PNG files' own widths, read independently
    expected = sorted(mpimg.imread(p).shape[1] for p in full_results.glob("*.png"))
    assert widths == expected and len(widths) == 9
    # the rendered DOM still has every section
    assert parse(dom).section_ids[:2] == ["fit", "backtest"]


def test_screenshot_is_not_blank(chromium: str, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _run(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri())
    pixels = mpimg.imread(shot)[..., :3]
    assert pixels.shape[:2] == (2000, 1200)
    gray = pixels.mean(axis=2)
    assert gray.std() > 0.05                      # not one flat colour
    ink = (gray < 0.9).mean()
    assert 0.02 < ink < 0.6                       # text and plots, not an empty or black page
    colourful = (pixels.max(axis=2) - pixels.min(axis=2) > 0.3).mean()
    assert colourful > 0.001                      # coloured plot markers are drawn
    # the top of the page (title, headline) and the lower part (figures) both have content
    assert (gray[:300] < 0.9).mean() > 0.01 and (gray[800:2000] < 0.9).mean() > 0.01
