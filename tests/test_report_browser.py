"""The HTML report rendered by a real headless Chromium: lanes, the race, the charts, escaping.

Debian's `chromium` renders each page from a file:// URL with its network features
off; `--dump-dom` gives the DOM after the page's script ran, `--screenshot` a PNG.
scripts/run-tests.sh installs chromium when it is missing.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cli_helpers import ROOT, run_cli

FIXTURES = ROOT / "tests" / "fixtures" / "report"
INVENTORY = str(FIXTURES / "inventory.py")
HOSTILE = str(FIXTURES / "hostile.py")


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("headless Chromium is needed: apt-get install -y chromium (scripts/run-tests.sh does it)")
    return found


def _browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM after scripts ran, serialised by the browser."""
    done = _browse(page, profile, "--dump-dom")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def screenshot(page: Path, profile: Path, png: Path, height: int = 1000) -> bytes:
    done = _browse(page, profile, f"--screenshot={png}", f"--window-size=1400,{height}", "--hide-scrollbars")
    assert done.returncode == 0, done.stderr[-2000:]
    return png.read_bytes()


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_failure_and_stress_reports_render_in_chromium(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    explored = run_cli("explore", f"{INVENTORY}::last-item", "--variant", "buggy", "--html",
                       "--report-dir", str(reports), cwd=tmp_path)
    assert explored.code == 1, explored.err
    stressed = run_cli("stress", INVENTORY, "--runs", "3", "--concurrency", "1,2", "--workers", "1",
                       "--sim-runs", "30", "--html", "--report-dir", str(reports), cwd=tmp_path)
    assert stressed.code == 0, stressed.out + stressed.err

    dom = dump_dom(reports / "explore-last-item.html", tmp_path / "profile")
    assert 'data-report-ready="1"' in dom and 'id="step-detail"' in dom  # the script ran
    lanes = set(re.findall(r'data-lane-header="([^"]+)"', dom))
    # A checkpoint continuation is the task itself resuming: its step sits in the task's lane.
    assert {"main", "alice", "bob", "timer"} <= lanes
    assert re.search(r'<g class="step actor raced[^"]*"[^>]*data-run="failing"', dom)
    assert 'class="step actor raced departure"' in dom or "data-departure=" in dom
    assert "data-parted-at=" in dom
    assert re.search(r'<a href="#r1-src-inventory-py-\d+">', dom)  # raced steps link to their source
    png = screenshot(reports / "explore-last-item.html", tmp_path / "profile", tmp_path / "failure.png", 1400)
    assert len(png) > 30_000 and _png_size(png) == (1400, 1400)

    dom = dump_dom(reports / "stress-report.html", tmp_path / "profile")
    assert 'data-report-ready="1"' in dom
    assert 'data-table="verdicts"' in dom and 'data-table="outcomes"' in dom
    for chart in ("failure-rate", "speedup", "efficiency"):
        assert re.search(rf'<svg class="chart"[^>]*data-chart="{chart}"', dom)
    assert 'data-series="last-item[buggy]"' in dom and 'data-series="last-item[fixed]"' in dom
    png = screenshot(reports / "stress-report.html", tmp_path / "profile", tmp_path / "stress.png")
    assert len(png) > 30_000 and _png_size(png) == (1400, 1000)


def test_hostile_names_render_as_text_in_chromium(tmp_path: Path) -> None:
    explored = run_cli("explore", HOSTILE, "--json", cwd=tmp_path)
    assert explored.code == 1, explored.err
    (tmp_path / "explore.json").write_text(explored.out)
    schedule = re.search(r'"schedule": "([^"]+)"', explored.out)
    assert schedule is not None
    replayed = run_cli("replay", HOSTILE, "--schedule", schedule[1], "--json", cwd=tmp_path)
    assert replayed.code == 1, replayed.err
    (tmp_path / "replay.json").write_text(replayed.out)
    for name in ("explore", "replay"):
        assert run_cli("report", f"{name}.json", cwd=tmp_path).code == 0
        dom = dump_dom(tmp_path / "reports" / f"{name}.html", tmp_path / "profile")
        assert 'data-report-ready="1"' in dom
        # The name is text: serialised escaped, and no element came out of it. Attribute
        # values are blanked first: browsers differ in escaping "<" inside them.
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
        markup = re.sub(r'="[^"]*"', '=""', dom)
        assert markup.count("<script") == 1
        assert "<img" not in markup and "<b>" not in markup and "<i>" not in markup
    assert "&lt;img src=x onerror=alert(2)&gt;" in dom  # the task name, as a lane of the replay
