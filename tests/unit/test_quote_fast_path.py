"""The typed quote decoder must agree with the dict path on every input: same Quote, or the same refusal."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.processor import InvalidRecord
from streams.serde import decode_json
from tests.support.feeds import quote_envelope
from torghut_domain.envelopes import parse_quote
from torghut_domain.fast_path import decode_quote


def _outcome(fn: Any, arg: Any) -> Any:
    try:
        return fn(arg)
    except InvalidRecord as exc:
        return ("refused", exc.reason)


def _both(data: bytes) -> tuple[Any, Any]:
    return _outcome(decode_quote, data), _outcome(lambda d: parse_quote(decode_json(d)), data)


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=False, width=64), st.integers(-5, 10**6),
                    st.none(), st.booleans(), st.just("10.5"), st.just("x"))
timestamps = st.sampled_from(["2026-11-18T14:30:00.123456789Z", "2026-11-18T14:30:00Z", "2026-11-18T14:30:00+01:00",
                              "yesterday", "", None, 5])


@settings(max_examples=3000, deadline=None)
@given(bp=numbers, ap=numbers, bs=numbers, as_=numbers, t=timestamps, ingest=timestamps,
       symbol=st.sampled_from(["NVDA", "", None]), drop=st.sampled_from([None, "bp", "as", "payload", "t"]))
def test_typed_and_dict_paths_agree(bp: Any, ap: Any, bs: Any, as_: Any, t: Any, ingest: Any, symbol: Any,
                                    drop: str | None) -> None:
    env: dict[str, Any] = quote_envelope("NVDA", 1_795_000_000_000_000_000, 1.0, 2.0, 1.0, 1.0, 1)
    env["payload"].update({"bp": bp, "ap": ap, "bs": bs, "as": as_, "t": t})
    env["ingestTs"], env["symbol"] = ingest, symbol
    if drop == "payload":
        del env["payload"]
    elif drop:
        env["payload"].pop(drop, None)
    data = json.dumps(env).encode()
    fast, reference = _both(data)
    assert fast == reference


@pytest.mark.parametrize("data", [b"{", b"[1]", b"\xff", b'{"payload": {"bp": NaN, "ap": 1, "bs": 1, "as": 1}}'])
def test_malformed_bytes_get_the_dict_paths_reason(data: bytes) -> None:
    fast, reference = _both(data)
    assert fast == reference and fast[0] == "refused"


def test_valid_feed_quotes_are_identical_on_both_paths() -> None:
    from tests.support.feeds import quote_feed
    from torghut_domain.envelopes import Quote

    for _, data in quote_feed(200, ["AAPL", "MSFT"]):
        fast = decode_quote(data)
        assert type(fast) is Quote and fast == parse_quote(json.loads(data))
