"""Torghut's input formats for ``Processor.input_formats``.

Why a module of its own: the runtime's serde knows only generic formats (Avro, JSON, raw bytes);
Torghut's quote topic gets a typed fast path (torghut_domain/fast_path.py), registered here under
its own name, so a processor that names the format has imported, and so registered, its decoder.
"""

from __future__ import annotations

from streams.processor import FORMAT_AVRO, FORMAT_JSON, FORMAT_RAW
from streams.serde import register_format
from torghut_domain.fast_path import decode_quote

__all__ = ["FORMAT_AVRO", "FORMAT_RAW", "FORMAT_TORGHUT_JSON", "FORMAT_TORGHUT_QUOTE"]

FORMAT_TORGHUT_JSON = FORMAT_JSON  # Torghut's camelCase JSON envelope -> dict (validated by the processor)
# A quote envelope -> validated torghut_domain.envelopes.Quote (typed fast path).
FORMAT_TORGHUT_QUOTE = register_format("torghut_quote", decode_quote)
