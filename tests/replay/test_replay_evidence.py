"""gate_evidence.json: every handoff key, every criterion, canonical bytes."""

from __future__ import annotations

import json
import math

import pytest

from microexec.replay import evidence as ev

HANDOFF = {"repository": "r", "base": "b", "head": "h", "designDoc": "docs/replay.md",
           "riskConfigPath": "out/risk_config.json", "artifactPath": "out", "evaluationWindow": {"orders": 1}}


def test_every_handoff_key_and_the_verdict() -> None:
    crit = [{"name": "a", "result": "pass"}, {"name": "b", "result": "fail"}]
    doc = ev.gate_evidence(HANDOFF, crit, {"summary": {}})
    assert set(ev.HANDOFF_KEYS) <= doc.keys() and doc["criteria"] == crit and doc["verdict"] == "fail"
    assert ev.gate_evidence(HANDOFF, crit[:1], {})["verdict"] == "pass"
    assert ev.gate_evidence(HANDOFF, [], {})["verdict"] == "fail"  # no criteria is no evidence
    with pytest.raises(ValueError, match="riskConfigPath"):
        ev.gate_evidence({k: v for k, v in HANDOFF.items() if k != "riskConfigPath"}, crit, {})


def test_canonical_is_strict_json_and_order_independent() -> None:
    a = ev.canonical({"b": math.nan, "a": (1, 2.5), "c": {"y": math.inf, "x": 1}})
    b = ev.canonical({"c": {"x": 1, "y": -math.inf}, "a": [1, 2.5], "b": math.nan})
    assert a == b
    assert json.loads(a) == {"a": [1, 2.5], "b": None, "c": {"x": 1, "y": None}}
    assert ev.digest({"a": 1, "b": 2}) == ev.digest({"b": 2, "a": 1}) != ev.digest({"a": 1, "b": 3})


def test_git_info_reads_this_checkout(tmp_path: object) -> None:
    from microexec.sample_data import ROOT

    info = ev.git_info(ROOT)
    assert info["head"] is not None and len(info["head"]) == 40
    assert info["repository"]  # origin URL, or the project's name when there is no remote
