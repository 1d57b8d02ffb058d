"""Quotes per second through the state consumer (exactly-once) vs the same job written with Quix
Streams 3.28 (exactly-once), same broker, same input topic, interleaved runs.

    python benchmarks/quix_compare.py [--records 100000] [--symbols 50] [--repeat 3]

The Quix job (benchmarks/_quix_job.py) runs in benchmarks/.venv-quix, created on first use
(``pip install quixstreams==3.28.*``: Quix pins confluent-kafka < 2.13, the project runs 2.16, so it
cannot share the project venv). Both sides read the same 6-partition topic of Torghut quote JSON
(the input of state_throughput.py), keep per-symbol state in a changelogged store, fold the same
features (Quix: the project's per-record reference fold, the definition; ours: the compiled fold,
tested bit for bit against it) and write a state record on the same emission decisions to one
output topic. Differences, both in Quix's favour or neutral: Quix writes JSON (ours Avro through
the registry), and Quix's job does not sweep the state TTL (ours does; nothing expires here).
Each side commits at the runtime's commit interval (MICROEXEC_COMMIT_INTERVAL_MS, default 100 ms;
``--quix-commit-s`` overrides Quix's). Throughput counts from the first record processed to the end
of the last commit, on both sides. Each pair alternates which side goes first; medians reported.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
import venv
from pathlib import Path
from typing import Any

from _common import ROOT, kafka_settings, report
from state_throughput import KEYS, produce_synthetic, throughput

from streams.settings import Settings
from tests.support.kafka_io import create_topics, read_all
from torghut_domain.runtime import TorghutRuntime

HERE = Path(__file__).resolve().parent
QUIX_HOME = HERE / ".venv-quix"
QUIX_REQUIREMENTS = ("quixstreams==3.28.*", "numpy>=1.26", "msgspec>=0.18")  # the last two: our reference fold


def quix_python() -> Path:
    """The interpreter of the Quix venv, created on first use (one-time, needs PyPI)."""
    python = QUIX_HOME / "bin" / "python"
    probe = ("import quixstreams, numpy, msgspec; "
             "assert quixstreams.__version__.startswith('3.28'), quixstreams.__version__")
    if python.exists() and subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0:
        return python
    print(f"[setup] creating {QUIX_HOME} with {', '.join(QUIX_REQUIREMENTS)} (one-time; kept out of the "
          "project venv because quixstreams 3.28 needs confluent-kafka < 2.13)", flush=True)
    venv.EnvBuilder(with_pip=True, clear=True).create(QUIX_HOME)
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", *QUIX_REQUIREMENTS])
    if done.returncode != 0 or subprocess.run([str(python), "-c", probe]).returncode != 0:
        raise SystemExit(f"could not install {QUIX_REQUIREMENTS[0]} into {QUIX_HOME} (pip exit {done.returncode}): "
                         "PyPI must be reachable, or install it there by hand and run again")
    return python


def run_quix(settings: Settings, source: str, sink: str, records: int, commit_s: float, tag: str) -> dict[str, Any]:
    """One run of the Quix job as a subprocess of the Quix venv, fresh group and state directory."""
    with tempfile.TemporaryDirectory(prefix="quix-state-") as state_dir:
        payload = {"bootstrap": settings.bootstrap_servers, "group": f"quix-{tag}", "source": source, "sink": sink,
                   "records": records, "commit_interval_s": commit_s, "state_dir": state_dir}
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([str(quix_python()), str(HERE / "_quix_job.py")], input=json.dumps(payload),
                             capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    if out.returncode != 0:
        sys.stderr.write(out.stderr[-4000:])
        raise RuntimeError(f"the Quix job failed (exit {out.returncode})")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved pairs; medians are reported")
    parser.add_argument("--quix-commit-s", type=float, default=None,
                        help="Quix's commit interval (default: ours, MICROEXEC_COMMIT_INTERVAL_MS)")
    args = parser.parse_args()
    quix_python()  # set up before anything is timed
    tag = uuid.uuid4().hex[:8]
    for key in KEYS:
        os.environ[f"MICROEXEC_TOPIC_{key.upper()}"] = f"bench-{key}-{tag}"
    from consumers.state.processor import StateProcessor
    from torghut_domain.topics import topic

    settings = kafka_settings()
    commit_s = args.quix_commit_s if args.quix_commit_s is not None else settings.commit_interval_ms / 1000
    sinks = [f"bench-quix-out-{tag}-{rep}" for rep in range(args.repeat)]
    create_topics(settings, [(topic(k), 6, k == "state") for k in KEYS] + [(s, 6, False) for s in sinks])
    records, _ = produce_synthetic(settings, args.symbols, args.records, 0)
    gc.collect()

    quix_rates: list[float] = []
    ours_rates: list[float] = []
    for rep in range(args.repeat):
        pair: dict[str, float] = {}
        for side in (("quix", "ours") if rep % 2 == 0 else ("ours", "quix")):
            if side == "quix":
                q = run_quix(settings, topic("quotes"), sinks[rep], records, commit_s, f"{tag}-{rep}")
                written = len(read_all(settings, sinks[rep]))
                if q["records"] != records or written != q["emitted"]:
                    raise SystemExit(f"Quix run {rep + 1}: {q['records']} of {records} records, "
                                     f"{written} of {q['emitted']} outputs committed")
                pair["quix"], quix_emitted, fold_share = q["rate"], q["emitted"], q["fold_s"] / q["elapsed_s"]
            else:
                runtime = TorghutRuntime(StateProcessor(), settings, f"state-{tag}-{rep}")
                pair["ours"], ours_emitted = throughput(runtime, records)
        if quix_emitted != ours_emitted:  # same fold, same decisions: anything else is not the same job
            raise SystemExit(f"pair {rep + 1}: Quix emitted {quix_emitted:,} state records, ours {ours_emitted:,}")
        quix_rates.append(pair["quix"])
        ours_rates.append(pair["ours"])
        print(f"pair {rep + 1} ({'Quix first' if rep % 2 == 0 else 'ours first'}): "
              f"Quix Streams {pair['quix']:,.0f} quotes/s ({quix_emitted:,} state records; its fold "
              f"{fold_share:.0%} of the time), ours {pair['ours']:,.0f} quotes/s ({ours_emitted:,} state records); "
              f"ratio {pair['ours'] / pair['quix']:.2f}", flush=True)
    ours, reference = statistics.median(ours_rates), statistics.median(quix_rates)
    print(f"medians over {args.repeat} pairs: ours {ours:,.0f}, Quix Streams 3.28 {reference:,.0f} quotes/s; "
          f"ratio ours/Quix {ours / reference:.2f} (Quix commit interval {commit_s:g} s)")
    report("state_vs_quix", ours, reference, "quotes/s (reference: the same job in Quix Streams 3.28)")


if __name__ == "__main__":
    main()
