"""Reference libraries for the Hawkes benchmarks, each in its own virtualenv.

tick and intensify pin their own numpy/scipy builds; keeping them out of the project venv means a
benchmark can never change what the project itself runs with. Each reference part runs in a
subprocess of that venv's interpreter and answers with one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

REFERENCES = {
    "tick": ("tick==0.8.0.2", "from tick.hawkes import SimuHawkesExpKernels"),
    "intensify": ("intensify==0.3.3", "from intensify import MultivariateHawkes"),
}


def ref_python(name: str) -> Path:
    """Interpreter of the reference venv, created (with a message) on first use."""
    requirement, probe = REFERENCES[name]
    home = HERE / f".venv-{name}"
    python = home / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0:
        return python
    print(f"[setup] creating {home} with {requirement} (one-time, needs PyPI; kept out of the project venv)",
          flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(home)
    subprocess.run([str(python), "-m", "pip", "install", "-q", requirement], check=True)
    subprocess.run([str(python), "-c", probe], check=True)
    return python


def run_reference(name: str, code: str, payload: dict[str, Any],
                  env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``code`` in the reference venv with ``payload`` as JSON on stdin; parse its last line.

    ``env`` entries are added to this process's environment (e.g. BLAS thread counts).
    """
    full_env = {**os.environ, **(env or {})}
    out = subprocess.run([str(ref_python(name)), "-c", code], input=json.dumps(payload),
                         capture_output=True, text=True, env=full_env)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise RuntimeError(f"{name} reference failed (exit {out.returncode})")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result
