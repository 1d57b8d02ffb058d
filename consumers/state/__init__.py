"""MicrostructureStateV5: per-symbol microstructure features from Torghut's market and order streams.

Read in this order: ``features`` (the formulas), ``regime`` (hysteresis state machine),
``reference`` (the readable per-record fold: how each input updates a symbol's state and when a
record is emitted; the definition), ``layout`` (the state as a dict and as rows), ``fold`` and
``fold_config`` (the same fold compiled, with its settings as a typed record), ``eviction`` (the
state TTL in event time), ``processor`` (the streams.Processor: dispatch, runs, records).
Definitions of every feature: docs/features.md.
"""

STATE_CONSUMER_VERSION = "microexec-state/0.1.0"
