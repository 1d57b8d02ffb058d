"""`microexec offline` over the recorded LOBSTER day: state and advice without a broker, reproducibly."""

from __future__ import annotations

import json
from pathlib import Path

from microexec.cli import main
from tests.support.data import DATA_DIR

AMZN = DATA_DIR / "lobster" / "AMZN_2012-06-21_34200000_57600000_message_1.csv"


def test_offline_replay_is_deterministic_and_bounded_by_the_baseline(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    assert main(["offline", "--lobster", str(AMZN), "--limit", "4000", "--out", str(first)]) == 0
    assert main(["offline", "--lobster", str(AMZN), "--limit", "4000", "--out", str(second)]) == 0
    assert first.read_bytes() == second.read_bytes()
    rows = [json.loads(line) for line in first.read_text().splitlines()]
    states = [r["value"] for r in rows if r["kind"] == "state"]
    advice = [r["value"] for r in rows if r["kind"] == "advice"]
    assert states and len(advice) == len(states)
    assert {s["symbol"] for s in states} == {"AMZN"} and all(s["spread_bps"] > 0 for s in states)
    for a in advice:
        if a["baseline_max_participation_rate"] is not None:
            assert a["max_participation_rate"] <= a["baseline_max_participation_rate"]


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: object) -> None:
    assert main(["offline", "--lobster", str(tmp_path / "AMZN_2012-06-21_1_2_message_1.csv"),
                 "--out", str(tmp_path / "x.jsonl")]) == 2


def test_a_torghut_dump_of_the_same_records_gives_the_same_state_and_advice(tmp_path: Path) -> None:
    """A dump of Torghut's topics is the third recorded source (`feed replay --torghut` took it, the
    offline run did not): the AMZN slice written as Torghut JSON lines gives what the LOBSTER file gives."""
    from producers.lobster import lobster_records

    dump = tmp_path / "amzn.jsonl"
    dump.write_text("".join(json.dumps(r.value) + "\n" for r in lobster_records(AMZN, limit=3000)))
    from_lobster, from_dump = tmp_path / "l.jsonl", tmp_path / "d.jsonl"
    assert main(["offline", "--lobster", str(AMZN), "--limit", "3000", "--out", str(from_lobster)]) == 0
    assert main(["offline", "--torghut", str(dump), "--out", str(from_dump)]) == 0
    assert from_dump.read_text() == from_lobster.read_text() and from_dump.stat().st_size > 0
