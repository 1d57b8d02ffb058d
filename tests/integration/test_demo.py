"""`microexec demo` as a user runs it: a subprocess on the real broker and registry.

It must exit 0 and write its report on a healthy run, exit non-zero when a consumer dies, and stop
every child process on every exit path (success, failure, interrupt).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from consumers.cli import CONSUMERS
from microexec.sample_data import ROOT
from torghut_domain.topics import CATALOG

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _env(unique: str, root: Path = ROOT) -> dict[str, str]:
    env = dict(os.environ)
    for spec in CATALOG:
        env[f"MICROEXEC_TOPIC_{spec.key.upper()}"] = f"demo-{unique}.{spec.key}"
    env["PYTHONPATH"] = str(root)
    env.pop("MICROEXEC_DATA_DIR", None)
    return env


def _clean_clone(tmp_path: Path) -> Path:
    """The committed tree alone, as a user clones it: no untracked files, nothing beside the clone."""
    clone = tmp_path / "clone" / "microexec"
    subprocess.run(["git", "clone", "--quiet", "--no-hardlinks", str(ROOT), str(clone)], check=True, timeout=120)
    return clone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose; it only lacks its parent's wait.
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return False


def _children(out: Path, want: set[str], timeout_s: float, proc: subprocess.Popen[bytes]) -> dict[str, dict]:
    deadline = time.monotonic() + timeout_s
    manifest = out / "children.json"
    while time.monotonic() < deadline:
        assert proc.poll() is None, "demo exited before its children were up"
        if manifest.exists():
            try:
                data = json.loads(manifest.read_text())
            except json.JSONDecodeError:
                data = {}
            if want <= set(data):
                return data
        time.sleep(0.5)
    raise AssertionError(f"children {want} not started within {timeout_s} s")


def _demo(out: Path, minutes: float, *extra: str) -> list[str]:
    return [sys.executable, "-m", "microexec.cli", "demo", "--minutes", str(minutes), "--speed", "10",
            "--symbols", "2", "--orders", "5", "--out", str(out), *extra]


@pytest.mark.timeout(400)
def test_demo_runs_and_writes_its_report(kafka_settings: object, unique: str, tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    clone = _clean_clone(tmp_path)
    done = subprocess.run(_demo(out, 0.3), env=_env(unique, clone), cwd=clone, capture_output=True, timeout=360)
    text = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
    assert done.returncode == 0, text[-4000:]
    # The promotion report and its gate evidence, as `microexec replay` writes them.
    evidence = json.loads((out / "gate_evidence.json").read_text())
    for key in ("repository", "base", "head", "designDoc", "riskConfigPath", "artifactPath", "evaluationWindow"):
        assert key in evidence, key
    assert evidence["evaluationWindow"]["orders"] == 5 and evidence["verdict"] in ("pass", "fail")
    assert evidence["criteria"] and all(c["result"] in ("pass", "fail") for c in evidence["criteria"])
    html = (out / "report.html").read_text()
    assert "<svg" in html and evidence["verdict"].upper() in html.upper()
    # A replay of the paper run's inputs (as a rewind of the TCA consumer would see them) gives the
    # divergence records the live run published, every one.
    if "tca" in CONSUMERS:
        compared = subprocess.run([sys.executable, "-m", "microexec.cli", "compare-live", "tca"],
                                  env=_env(unique, clone), cwd=clone, capture_output=True, text=True, timeout=300)
        assert compared.returncode == 0 and "(100.000%)" in compared.stdout, compared.stdout + compared.stderr
    summary = json.loads((out / "paper_summary.json").read_text())
    arms = summary["trade_updates"]
    assert set(arms) == {"baseline", "advisor"} and arms["baseline"]["orders"] == arms["advisor"]["orders"] == 5
    assert 0 < arms["baseline"]["fill_rate"] <= 1
    if "tca" in CONSUMERS:  # TCA read the paper arms' fills and labelled them by accountLabel
        assert {"baseline", "advisor"} <= set(summary["tca"]), summary["tca"]
        assert all(summary["tca"][arm]["records"] >= 1 for arm in ("baseline", "advisor"))
    results = [json.loads(line) for line in (out / "paper_results.jsonl").read_text().splitlines()]
    assert len(results) == 5 and all(r["baseline"]["filled_qty"] <= r["quantity"] for r in results)
    schedule = json.loads((out / "regime_schedule.json").read_text())
    assert set(schedule["symbols"]) == {"AMZN", "SIM01"}
    children = json.loads((out / "children.json").read_text())
    assert {"state", "advisor", "feed", "paper"} <= set(children)
    assert all(c["metrics_port"] for c in children.values() if c["role"] == "consumer")
    assert not [n for n, c in children.items() if _alive(c["pid"])], "children left running"


@contextmanager
def _running_demo(out: Path, unique: str) -> Iterator[subprocess.Popen[bytes]]:
    """A 3-minute demo in the background, killed on the way out if the test did not end it."""
    proc = subprocess.Popen(_demo(out, 3.0), env=_env(unique), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.mark.timeout(300)
def test_demo_fails_when_a_consumer_dies(kafka_settings: object, unique: str, tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    with _running_demo(out, unique) as proc:
        children = _children(out, {"state", "advisor", "feed", "paper"}, 180, proc)
        os.kill(children["state"]["pid"], signal.SIGKILL)
        output, _ = proc.communicate(timeout=90)
    text = output.decode(errors="replace")
    assert proc.returncode not in (0, None), text[-3000:]
    assert "state exited" in text
    assert not [n for n, c in children.items() if _alive(c["pid"])], "children left running"


@pytest.mark.timeout(300)
def test_demo_interrupted_stops_every_child(kafka_settings: object, unique: str, tmp_path: Path) -> None:
    out = tmp_path / "demo-out"
    with _running_demo(out, unique) as proc:
        children = _children(out, {"state", "advisor"}, 180, proc)
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert not [n for n, c in children.items() if _alive(c["pid"])], "children left running"
