"""Where a hop's milliseconds go, from the consumers' own /metrics (streams/metrics.py).

Why: the latency benchmarks see a quote's send time and its advice's visibility, not what happened
in between. Each `microexec run` process exports its transaction commit times and its per-record
processing times as histograms; scraped at the end of a run they split a hop into processing,
commit and everything else (fetch, the event-time merge's hold, the wait for a commit to start).
"""

from __future__ import annotations

import math
import re
import urllib.request
from collections.abc import Mapping

_SAMPLE = re.compile(r'^(microexec_[a-z_]+)(?:\{([^}]*)\})? (\S+)$')


def scrape(port: int, timeout_s: float = 5.0) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every microexec sample the process on ``port`` exports; [] if none."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as response:
            text = response.read().decode()
    except OSError:
        return []
    out = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            out.append((match.group(1), labels, float(match.group(3))))
    return out


def histogram(samples: list[tuple[str, dict[str, str], float]], name: str) -> tuple[int, float, dict[float, float]]:
    """(count, sum, cumulative count by upper bound) of histogram ``name``, all label sets added."""
    count, total = 0, 0.0
    buckets: dict[float, float] = {}
    for sample, labels, value in samples:
        if sample == f"{name}_count":
            count += int(value)
        elif sample == f"{name}_sum":
            total += value
        elif sample == f"{name}_bucket":
            bound = math.inf if labels["le"] == "+Inf" else float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
    return count, total, buckets


def quantile(buckets: Mapping[float, float], q: float) -> float:
    """Prometheus' histogram_quantile: linear within the bucket the rank falls in (nan when empty)."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] == 0:
        return math.nan
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * (rank - below) / max(buckets[bound] - below, 1e-12)
        lower, below = bound, buckets[bound]
    return lower


def describe(name: str, port: int, seconds: float) -> str:
    """One line for consumer ``name``: commits per second and their time, processing time per record."""
    samples = scrape(port)
    if not samples:
        return f"  {name}: no metrics on port {port}"
    commits, commit_s, commit_b = histogram(samples, "microexec_commit_latency_seconds")
    sampled, proc_s, _ = histogram(samples, "microexec_processing_latency_seconds")
    flushes = sum(v for s, _, v in samples if s == "microexec_merge_flushes_total")
    return (f"  {name}: {commits:,} commits ({commits / seconds:.0f}/s), commit p50 "
            f"{1e3 * quantile(commit_b, 0.5):.1f} ms / p99 {1e3 * quantile(commit_b, 0.99):.1f} ms / mean "
            f"{1e3 * commit_s / max(commits, 1):.1f} ms; processing {1e6 * proc_s / max(sampled, 1):.0f} us per "
            f"record (mean of {sampled:,} sampled); merge flushes {flushes:,.0f}")
