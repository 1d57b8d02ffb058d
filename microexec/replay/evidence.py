"""gate_evidence.json: the seed's AgentRun handoff keys plus every promotion criterion's figure.

Why strict and canonical: a promotion is decided from this file, so it must be byte-identical for
the same inputs (sorted keys, no wall-clock time, NaN written as null) and carry everything a
reviewer needs to reproduce it: the commits, the inputs' digests, the configuration.
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

IMPLEMENTATION_SPEC = "torghut-v5-microstructure-execution-intelligence-v1"
HANDOFF_KEYS = ("repository", "base", "head", "designDoc", "riskConfigPath", "artifactPath", "evaluationWindow")
DEFAULT_DESIGN_DOC = "docs/replay.md"


def clean(value: Any) -> Any:
    """JSON-safe copy: non-finite floats -> None, tuples -> lists, numpy scalars -> Python."""
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def canonical(value: Any) -> str:
    return json.dumps(clean(value), sort_keys=True, indent=2, allow_nan=False) + "\n"


def digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(clean(value), sort_keys=True, allow_nan=False).encode()).hexdigest()


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _project_name(top: Path) -> str | None:
    try:
        with (top / "pyproject.toml").open("rb") as fh:
            name = tomllib.load(fh).get("project", {}).get("name")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return name if isinstance(name, str) else None


def git_info(cwd: Path) -> dict[str, str | None]:
    """repository (origin URL; else the project's name from pyproject.toml, since a worktree's folder
    name says nothing; else the folder name), head (HEAD), base (merge-base with main, else None):
    what the handoff bundle asks for, when git can answer."""
    top = _git(["rev-parse", "--show-toplevel"], cwd)
    repo = _git(["config", "--get", "remote.origin.url"], cwd) or \
        (_project_name(Path(top)) or Path(top).name if top else None)
    head = _git(["rev-parse", "HEAD"], cwd)
    base = None
    for ref in ("main", "origin/main", "master"):
        base = _git(["merge-base", "HEAD", ref], cwd)
        if base:
            break
    return {"repository": repo, "base": base, "head": head}


def gate_evidence(handoff: Mapping[str, Any], criteria: list[dict[str, Any]],
                  body: Mapping[str, Any]) -> dict[str, Any]:
    """The evidence document; ``handoff`` must hold every HANDOFF_KEYS entry (None allowed)."""
    missing = [k for k in HANDOFF_KEYS if k not in handoff]
    if missing:
        raise ValueError(f"handoff keys missing: {missing}")
    verdict = "pass" if criteria and all(c["result"] == "pass" for c in criteria) else "fail"
    return {"implementationSpec": IMPLEMENTATION_SPEC, **{k: handoff[k] for k in HANDOFF_KEYS},
            "verdict": verdict, "criteria": criteria, **body}
