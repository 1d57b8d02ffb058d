"""Torghut's side of microexec: its envelopes, topic catalog and input formats.

Why apart from streams/: streams/ is generic Kafka plumbing (exactly-once runtime, serde, state,
admin) that names no deployment; everything that knows Torghut's topics and JSON envelopes lives
here and imports streams/, never the other way round (tests/unit/test_import_rules.py).
"""
