"""The alerts consumer: the seed's three alerts from the divergence, advice and state streams.

``config`` holds the thresholds (``MICROEXEC_ALERT_*``, validated); ``rules`` the three alerts as
pure state machines; ``processor`` the streams.Processor, with the wall-clock timer entry point
(``punctuate``) for the whole-stream staleness alert; ``metrics`` the Prometheus gauges and
counters that deploy/prometheus/alerts.yml alerts on. docs/alerts.md describes each alert.
"""
