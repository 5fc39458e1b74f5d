"""The HTML report made from real result documents (explore, replay, stress) of fixture runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from cli_helpers import ROOT, run_cli

from simharness.report import ReportError, render_html

FIXTURES = ROOT / "tests" / "fixtures" / "report"
INVENTORY = str(FIXTURES / "inventory.py")
HOSTILE = str(FIXTURES / "hostile.py")


def _json(*args: str, cwd: Path) -> dict:
    done = run_cli(*args, "--json", cwd=cwd)
    assert done.code in (0, 1), done.err
    return json.loads(done.out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """explore and replay JSON of the fixtures, as the CLI writes them."""
    folder = tmp_path_factory.mktemp("report-docs")
    explored = _json("explore", f"{INVENTORY}::last-item", "--variant", "buggy", cwd=folder)
    failure = explored["results"][0]["failure"]
    replayed = _json("replay", f"{INVENTORY}::last-item", "--variant", "buggy", "--schedule", failure["schedule"],
                     cwd=folder)
    hostile = _json("explore", HOSTILE, cwd=folder)
    hostile_replay = _json("replay", HOSTILE, "--schedule", hostile["results"][0]["failure"]["schedule"], cwd=folder)
    paths = {}
    for name, document in (("explore", explored), ("replay", replayed), ("hostile", hostile),
                           ("hostile-replay", hostile_replay)):
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps(document))
    return paths


def test_report_command_writes_a_self_contained_page(runs: dict[str, Path], tmp_path: Path) -> None:
    # The target lies outside the current folder: its folder is searched only when named.
    done = run_cli("report", str(runs["replay"]), "--report-dir", str(tmp_path / "out"),
                   "--source-dir", str(FIXTURES), cwd=tmp_path)
    assert done.code == 0, done.err
    page = tmp_path / "out" / "replay.html"
    assert done.out.strip() == f"report: {page}"
    text = page.read_text()
    # Nothing fetched at view time: no external URL in any src/href, a CSP that forbids it.
    assert not re.search(r'(src|href)="(https?:)?//', text)
    assert "default-src 'none'" in text
    assert text.count("<script>") == 1
    # Swimlanes for both runs, the departures, the raced steps and their source.
    assert 'data-panel="failing"' in text and 'data-panel="fifo"' in text
    assert 'data-lane-header="alice"' in text and 'data-lane-header="bob"' in text
    assert 'data-departure=' in text and 'data-raced="1"' in text
    assert 'id="run-src-inventory-py-22"' in text  # the write after the stock check, embedded
    assert "self.stock = available - 1" in text
    document = json.loads(runs["replay"].read_text())
    assert document["schedule"] in text
    assert not list((tmp_path / "out").glob(".*.tmp"))  # the temporary file was replaced


def test_explore_document_without_trace_still_gives_schedule_and_replay(runs: dict[str, Path]) -> None:
    document = json.loads(runs["explore"].read_text())
    text = render_html(document)
    failure = document["results"][0]["failure"]
    assert failure["schedule"] in text
    assert 'id="r1-replay"' in text and "--schedule" in text
    assert "has no trace" in text


def test_explore_html_flag_includes_the_timeline(tmp_path: Path) -> None:
    done = run_cli("explore", f"{INVENTORY}::last-item", "--variant", "buggy", "--json", "--html",
                   "--report-dir", str(tmp_path), cwd=tmp_path)
    assert done.code == 1, done.err
    json.loads(done.out)  # stdout still holds exactly the JSON document
    page = tmp_path / "explore-last-item.html"
    assert f"report: {page}" in done.err
    text = page.read_text()
    assert 'data-role="timeline"' in text and "data-parted-at=" in text


def test_scenario_text_is_escaped(runs: dict[str, Path], tmp_path: Path) -> None:
    for name in ("hostile", "hostile-replay"):
        done = run_cli("report", str(runs[name]), "--out", str(tmp_path / f"{name}.html"), cwd=tmp_path)
        assert done.code == 0, done.err
        text = (tmp_path / f"{name}.html").read_text()
        assert "<script>alert(1)</script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "<img" not in text and "<b>" not in text and "<i>" not in text
        assert text.count("<script>") == 1
    replay_text = (tmp_path / "hostile-replay.html").read_text()
    assert "&lt;img src=x onerror=alert(2)&gt;" in replay_text  # a task name, as a lane


@pytest.mark.parametrize("content, message", [
    ("not json", "is not JSON"),
    ('{"something": "else"}', "not a simharness result document"),
])
def test_report_refuses_bad_input_with_exit_2(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    done = run_cli("report", str(bad), cwd=tmp_path)
    assert done.code == 2
    assert message in done.err and "Traceback" not in done.err
    assert not (tmp_path / "reports").exists()


def test_report_usage_errors(tmp_path: Path) -> None:
    assert run_cli("report", str(tmp_path / "missing.json"), cwd=tmp_path).code == 2
    both = run_cli("report", "x.json", "--out", "a.html", "--report-dir", "d", cwd=tmp_path)
    assert both.code == 2 and "not both" in both.err
    with pytest.raises(ReportError):
        render_html({"results": "nope"})
