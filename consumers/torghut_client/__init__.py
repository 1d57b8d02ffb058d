"""The library Torghut imports to consume microexec's state and advice.

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

from consumers.torghut_client.backoff import Backoff
from consumers.torghut_client.book import AdviceBook, AppliedAdvice, BaselineOrder, ClientRules, Coordinates
from consumers.torghut_client.json_view import applied_json, decimal_string, record_json
from consumers.torghut_client.subscriber import AdviceSubscriber

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
