"""SimulatorBackedTCAService: joins each order's lifecycle and fills with its arrival mid (quotes) and
its simulated shortfall distribution, and at completion emits ``tca_divergence_v1`` with Torghut's
TCA arithmetic; tracks divergence per symbol on windows and asks for recalibration on drift.

``config`` holds every wait, bound and threshold; ``orders`` the per-order join (pure functions over
JSON state); ``history`` the per-symbol quote and regime histories; ``windows`` the drift windows;
``metrics`` the Prometheus collectors; ``processor`` the streams.Processor. docs/tca.md explains
the rules.
"""

TCA_VERSION = "microexec-tca/0.1.0"
