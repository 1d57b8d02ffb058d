"""MicrostructureStateV5: per-symbol microstructure features from Torghut's market and order streams.

Pure logic lives in ``features`` (formulas), ``regime`` (hysteresis state machine) and
``processor`` (the streams.Processor that folds records into per-symbol state and decides when to
emit). Definitions of every feature: docs/features.md.
"""

STATE_CONSUMER_VERSION = "microexec-state/0.1.0"
