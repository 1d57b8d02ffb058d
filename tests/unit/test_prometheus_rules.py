"""The Prometheus alerting rules are valid and pass their promtool unit tests
(deploy/prometheus/tests), so a broken rule fails the suite and not a page at 3 a.m.

promtool comes with Debian's ``prometheus`` package; scripts/test installs it where it is missing.
This test installs nothing: without promtool it fails and says how to get it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: run scripts/test (it installs it), or "
                    "`apt-get install prometheus` (Debian) / a Prometheus release tarball")
    return path


def _run(*args: str) -> str:
    done = subprocess.run([_promtool(), *args], cwd=DEPLOY, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_rules_are_valid() -> None:
    out = _run("check", "rules", "alerts.yml")
    assert "SUCCESS" in out


def test_rules_pass_their_unit_tests() -> None:
    tests = sorted(str(p.relative_to(DEPLOY)) for p in (DEPLOY / "tests").glob("*.yml"))
    assert tests, "no promtool rule tests in deploy/prometheus/tests"
    assert "SUCCESS" in _run("test", "rules", *tests)


def test_every_rule_has_a_unit_test() -> None:
    """A rule nobody tests can be broken without anyone noticing (ExecutionAdviceStale was)."""
    rules = set()
    for line in (DEPLOY / "alerts.yml").read_text().splitlines():
        if line.strip().startswith("- alert:"):
            rules.add(line.split(":", 1)[1].strip())
    tested = set()
    for path in (DEPLOY / "tests").glob("*.yml"):
        for line in path.read_text().splitlines():
            if "alertname:" in line:
                tested.add(line.split("alertname:", 1)[1].split(",")[0].strip())
    assert rules and rules <= tested, f"rules without a promtool test: {sorted(rules - tested)}"
