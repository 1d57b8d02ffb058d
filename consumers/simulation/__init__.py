"""The simulation consumer: rolling market windows -> Hawkes calibrations per symbol, and per parent
order (plus a reference order per symbol and regime) a seeded shortfall Monte Carlo.

``config`` reads and validates the environment; ``window`` keeps the per-symbol rolling event window
in keyed state; ``fitting`` turns a window into a calibration (and its record); ``pricing`` maps
advice to an execution policy, applies the deterministic budget and runs the Monte Carlo;
``processor`` is the streams.Processor; ``metrics`` holds its Prometheus collectors.
"""

SIMULATION_CONSUMER_VERSION = "microexec-simulation/0.1.0"
