"""The library Torghut imports to consume microexec's state and advice.

Why a top-level package and not under ``consumers/``: it runs inside Torghut's process, not as a
microexec consumer (no group of its own, no transactions, nothing produced). Import from here;
the submodules are an implementation detail.

* ``AdviceBook`` (pure): latest state/advice per symbol and ``advice_for(symbol, now, baseline)``
  with Torghut's application rules, or a fallback with its reason; every answer has provenance.
* ``record_json`` / ``applied_json``: the JSON view Torghut's parser accepts.
* ``AdviceSubscriber`` (thin Kafka part): reads the compacted state and advice topics with a
  read_committed consumer and feeds an AdviceBook. A failing poll is retried after a bounded,
  jittered exponential ``Backoff``; ``consecutive_failures`` and ``last_error`` feed Torghut's
  health checks; refused credentials raise ``KafkaAuthError`` from ``start()``/``catch_up()``.

Example::

    book = AdviceBook(ClientRules.from_env())
    sub = AdviceSubscriber.from_env(book)
    sub.catch_up()            # load the compacted topics
    sub.start()               # keep following in a background thread
    answer = book.advice_for("NVDA", datetime.now(UTC), BaselineOrder(0.10, "market"))
"""

from torghut_client.backoff import Backoff
from torghut_client.book import AdviceBook, AppliedAdvice, BaselineOrder, ClientRules, Coordinates
from torghut_client.json_view import applied_json, decimal_string, record_json
from torghut_client.subscriber import AdviceSubscriber

__all__ = [
    "AdviceBook",
    "AdviceSubscriber",
    "AppliedAdvice",
    "Backoff",
    "BaselineOrder",
    "ClientRules",
    "Coordinates",
    "applied_json",
    "decimal_string",
    "record_json",
]
