"""What a runtime has done so far: the counters a caller (a test, a benchmark, the CLI) reads.

Why a module of its own: the loop, the processing paths and the output writer all count into the
same record, and none of them should import the others for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RunStats:
    records_in: int = 0
    records_out: int = 0
    dlq: int = 0
    commits: int = 0
    aborts: int = 0
    dlq_reasons: dict[str, int] = field(default_factory=dict)
    run_records: int = 0  # records taken by a processor's run path (RunProcessor)
    runs_declined: int = 0  # run attempts declined or failed (then split, or redone record by record)
    punctuations: int = 0  # wall-clock punctuation rounds (PunctuatingProcessor)
    first_record_at: float | None = None  # time.monotonic() of the first record, for throughput figures
    last_commit_at: float | None = None
