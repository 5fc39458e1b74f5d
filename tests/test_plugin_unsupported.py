"""What cannot run in simulation is reported as such (issue 16, item 3): a skip, or the stock loop."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "fixtures" / "plugin"))
from pytester_helpers import prepare, run, suite, summary  # noqa: E402

pytest_plugins = ["pytester"]


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    return prepare(pytester, monkeypatch)


def test_refused_api_is_a_skip_naming_it(tester: pytest.Pytester) -> None:
    suite(tester, "suite_unsupported")
    result = run(tester, "--sim", "--sim-seed", "1", "-rs", "--junitxml", "junit.xml")
    result.assert_outcomes(skipped=1)
    output = result.stdout.str()
    assert "SKIPPED [1] test_suite.py:9: unsupported in simulation: loop.add_reader()" in output
    assert summary(output).startswith("simharness: 1 test x 1 schedule, 0 failures, 1 unsupported")
    assert "unsupported in simulation: loop.add_reader() (1 test)" in output
    props = {p.get("name"): p.get("value") for p in ET.parse(tester.path / "junit.xml").iter("property")}
    assert props["simharness_status"] == "unsupported" and props["simharness_detail"] == "loop.add_reader()"
    assert not (tester.path / ".simharness" / "failures.db").exists()  # nothing to remember


def test_refused_api_runs_unexplored_on_the_stock_loop_when_asked(tester: pytest.Pytester) -> None:
    suite(tester, "suite_unsupported")
    result = run(tester, "--sim", "--sim-seed", "1", "--sim-unsupported", "stock")
    result.assert_outcomes(passed=1)
    assert "1 unsupported" in summary(result.stdout.str())
