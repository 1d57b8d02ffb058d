"""Transactional keyed state: writes are pending until the runtime commits them with the outputs.

Why a two-layer store: an aborted Kafka transaction throws away outputs and offsets, so the state
changes made while producing them must vanish too, or the replay after the abort would see state
from the future. ``pending`` is exactly what goes to the changelog in the committing transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

_DELETED = object()
_ABSENT = object()


class TransactionalState:
    """A KeyValueState for one input partition."""

    __slots__ = ("_committed", "_pending", "_undo")

    def __init__(self) -> None:
        self._committed: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, Any] = {}
        # Per-record savepoint: pending values as they were before the current record touched them,
        # so a record that ends in the DLQ leaves no trace in state. Values are never mutated in
        # place (processors put new dicts), so keeping references is enough.
        self._undo: dict[str, Any] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        value = self._pending.get(key, None)
        if value is None:
            return self._committed.get(key)
        return None if value is _DELETED else value

    def put(self, key: str, value: dict[str, Any]) -> None:
        if key not in self._undo:
            self._undo[key] = self._pending.get(key, _ABSENT)
        self._pending[key] = value

    def delete(self, key: str) -> None:
        if key not in self._undo:
            self._undo[key] = self._pending.get(key, _ABSENT)
        self._pending[key] = _DELETED

    def live_keys(self) -> list[str]:
        """Every live key, pending writes included and pending deletions excluded (sorted, so a
        processor that walks its keys, e.g. to evict them, does it in the same order everywhere)."""
        live = set(self._committed)
        for key, value in self._pending.items():
            if value is _DELETED:
                live.discard(key)
            else:
                live.add(key)
        return sorted(live)

    def begin_record(self) -> None:
        self._undo.clear()

    def rollback_record(self) -> None:
        """Undo what the current record wrote (it is going to the DLQ)."""
        for key, previous in self._undo.items():
            if previous is _ABSENT:
                self._pending.pop(key, None)
            else:
                self._pending[key] = previous
        self._undo.clear()

    def dirty(self) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """Pending changes, None for a deletion (a changelog tombstone)."""
        for key, value in self._pending.items():
            yield key, None if value is _DELETED else value

    def commit(self) -> None:
        for key, value in self._pending.items():
            if value is _DELETED:
                self._committed.pop(key, None)
            else:
                self._committed[key] = value
        self._pending.clear()
        self._undo.clear()

    def abort(self) -> None:
        self._pending.clear()
        self._undo.clear()

    def restore(self, key: str, value: dict[str, Any] | None) -> None:
        """Apply one changelog record during restore (last write wins, None deletes)."""
        if value is None:
            self._committed.pop(key, None)
        else:
            self._committed[key] = value

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Committed state, for tests and the offline driver's final report."""
        return dict(self._committed)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: equal states give equal bytes, so changelogs and digests compare.

    A state value may also be an object with ``as_dict()`` (a processor that keeps a compiled
    form of its state, e.g. consumers.state.layout.SymbolRows): its dict is what is written."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_as_dict)


def _as_dict(value: Any) -> Any:
    as_dict = getattr(value, "as_dict", None)
    if as_dict is None:
        raise TypeError(f"state value of type {type(value).__name__} is not JSON-serialisable")
    return as_dict()
