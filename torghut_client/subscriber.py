"""The thin Kafka part of the Torghut client: compacted state + advice topics -> AdviceBook.

Why assign() from the beginning instead of a consumer group: every Torghut process needs the whole
latest-per-symbol table, not a share of partitions, and a compacted topic read from the start *is*
that table. ``isolation.level=read_committed`` so that only records of committed exactly-once
transactions are ever seen. Values are decoded by the runtime's one Avro path (streams.serde):
Confluent wire format through the registry when a registry URL is set, else bare Avro with the
schema in ``schemas/`` (the same fallback Torghut's own producer uses). A record that cannot be decoded is
counted and skipped: the client must never take Torghut down. A failing poll is retried after a
bounded, jittered exponential backoff (``Backoff``), and ``stop()`` interrupts that wait at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from streams.security import wait_for_metadata
from streams.serde import AvroDecoder, Registry
from torghut_client.backoff import Backoff
from torghut_client.book import AdviceBook, Coordinates
from torghut_domain.topics import topic

log = logging.getLogger("microexec.torghut_client")

Decoder = Callable[[str, bytes], dict[str, Any]]


def _decoder(stems: Mapping[str, str], registry: Registry | None) -> Decoder:
    decoders = {name: AvroDecoder(stem, registry) for name, stem in stems.items()}

    def decode(topic_name: str, data: bytes) -> dict[str, Any]:
        return decoders[topic_name].decode(data)

    return decode


def bare_avro_decoder(stems: Mapping[str, str]) -> Decoder:
    """topic -> schema stem; decodes schemaless Avro bodies."""
    return _decoder(stems, None)


def registry_decoder(url: str, stems: Mapping[str, str], registry_conf: Mapping[str, Any] | None = None) -> Decoder:
    """Confluent wire format through the registry (writer schema by id, read into our schema).

    ``registry_conf``: basic auth / TLS (``Settings.registry_client_conf()``); None reads the
    SCHEMA_REGISTRY_* variables."""
    return _decoder(stems, Registry(url, conf=registry_conf))


class AdviceSubscriber:
    """Follows the state and advice topics into ``book``.

    ``AdviceSubscriber(book, kafka_config, schema_registry_url="")``: ``kafka_config`` holds at
    least ``bootstrap.servers`` (plus SASL settings in production); the consumer settings that
    matter for correctness are forced here. ``consecutive_failures`` and ``last_error`` tell
    Torghut's health checks whether the follower thread is currently failing.
    """

    def __init__(self, book: AdviceBook, kafka_config: Mapping[str, Any], schema_registry_url: str = "",
                 *, state_topic: str | None = None, advice_topic: str | None = None,
                 consumer_factory: Callable[[dict[str, Any]], Any] = Consumer,
                 registry_conf: Mapping[str, Any] | None = None, backoff: Backoff | None = None) -> None:
        self.book = book
        self.state_topic = state_topic or topic("state")
        self.advice_topic = advice_topic or topic("advice")
        stems = {self.state_topic: "microstructure_state_v1", self.advice_topic: "execution_advice_v1"}
        self._decode = (registry_decoder(schema_registry_url, stems, registry_conf) if schema_registry_url
                        else bare_avro_decoder(stems))
        self._bootstrap = str(kafka_config.get("bootstrap.servers", ""))
        self.backoff = backoff or Backoff()
        self.consecutive_failures = 0
        self.last_error = ""
        conf = {"group.id": "torghut-microexec-client", **dict(kafka_config)}
        conf.update({
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        })
        self._consumer = consumer_factory(conf)
        self._eof: set[tuple[str, int]] = set()
        self._assigned: set[tuple[str, int]] = set()
        self.decode_errors = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def from_env(cls, book: AdviceBook, env: Mapping[str, str] | None = None) -> AdviceSubscriber:
        """Broker, SASL and registry from microexec's settings (KAFKA_BOOTSTRAP_SERVERS, SCHEMA_REGISTRY_URL...)."""
        from streams.settings import load_settings

        settings = load_settings(env)
        return cls(book, settings.kafka_common(), settings.schema_registry_url,
                   registry_conf=settings.registry_client_conf())

    # -- consuming ----------------------------------------------------------------------------
    def assign(self, timeout_s: float = 10.0) -> None:
        """Assign every partition of both topics from the beginning of the compacted log.

        Raises ``KafkaAuthError`` (naming the variables) when the broker refuses our credentials,
        ``KafkaUnreachable`` when no broker answers within ``timeout_s``."""
        metadata = wait_for_metadata(self._consumer, self._bootstrap, timeout_s)
        partitions = []
        for name in (self.state_topic, self.advice_topic):
            tmeta = metadata.topics.get(name)
            if tmeta is None or tmeta.error is not None:
                raise RuntimeError(f"topic {name} is not available: {None if tmeta is None else tmeta.error}")
            for number in tmeta.partitions:
                partitions.append(TopicPartition(name, number, OFFSET_BEGINNING))
                self._assigned.add((name, number))
        self._consumer.assign(partitions)

    def handle(self, msg: Any) -> None:
        """Apply one consumed message to the book (public for tests and custom loops)."""
        err = msg.error()
        if err is not None:
            if err.code() == KafkaError._PARTITION_EOF:
                self._eof.add((msg.topic(), msg.partition()))
            else:
                log.warning("consumer error: %s", err)
            return
        name, partition, offset = msg.topic(), msg.partition(), msg.offset()
        self._eof.discard((name, partition))
        raw_key = msg.key()
        symbol = raw_key.decode("utf-8", "replace") if isinstance(raw_key, bytes) else raw_key
        data = msg.value()
        try:
            value = None if data is None else self._decode(name, data)
        except Exception as exc:  # undecodable: count and skip, never stop Torghut
            self.decode_errors += 1
            log.warning("undecodable record %s[%d]@%d: %s", name, partition, offset, exc)
            return
        if symbol is None and value is not None:
            symbol = value.get("symbol")
        if not symbol:
            return
        coords = Coordinates(name, partition, offset)
        if name == self.state_topic:
            self.book.update_state(symbol, value, coords)
        elif name == self.advice_topic:
            self.book.update_advice(symbol, value, coords)

    def poll_once(self, timeout_s: float = 0.5, max_messages: int = 500) -> int:
        messages = self._consumer.consume(num_messages=max_messages, timeout=timeout_s)
        for msg in messages:
            self.handle(msg)
        return len(messages)

    def caught_up(self) -> bool:
        return bool(self._assigned) and self._assigned <= self._eof

    def catch_up(self, timeout_s: float = 30.0) -> bool:
        """Assign if needed and read until every partition reported end-of-log (or the timeout)."""
        import time

        if not self._assigned:
            self.assign()
        deadline = time.monotonic() + timeout_s
        while not self.caught_up() and time.monotonic() < deadline:
            self.poll_once(0.2)
        return self.caught_up()

    def start(self) -> None:
        """Keep following the topics in a daemon thread."""
        if not self._assigned:
            self.assign()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="microexec-advice-subscriber", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(0.2)
            except Exception as exc:  # keep following; the book's staleness rules protect Torghut meanwhile
                self._failed(exc)
            else:
                if self.consecutive_failures:
                    log.info("advice subscriber polls again after %d failed attempts", self.consecutive_failures)
                    self.consecutive_failures, self.last_error = 0, ""
                    self.backoff.reset()

    def _failed(self, exc: Exception) -> None:
        """Record the failure and wait the backoff delay; ``stop()`` ends the wait at once."""
        delay = self.backoff.next_delay()
        self.consecutive_failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.consecutive_failures == 1:
            log.exception("advice subscriber poll failed; retrying in %.2fs", delay)
        else:
            log.warning("advice subscriber poll failed %d times in a row (%s); retrying in %.2fs",
                        self.consecutive_failures, self.last_error, delay)
        self._stop.wait(delay)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._consumer.close()
