"""Plain-Python price-time FIFO book: the readable specification the compiled book is tested against.

Why keep two books: the compiled one is written for speed (linked lists through arrays, window
re-centring) and is easy to get subtly wrong; this one is written to be obviously right (a dict
of deques) so a differential test can drive both with the same random operations and demand
identical results.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class RefOrder:
    oid: int
    side: int  # 0 bid, 1 ask
    price: int
    size: int
    own: bool


@dataclass
class ReferenceBook:
    levels: tuple[dict[int, deque[RefOrder]], dict[int, deque[RefOrder]]] = field(
        default_factory=lambda: ({}, {}))
    orders: dict[int, RefOrder] = field(default_factory=dict)
    own_fills: list[tuple[int, int, int]] = field(default_factory=list)
    _next_id: int = 0

    def best_bid(self) -> int | None:
        return max(self.levels[0]) if self.levels[0] else None

    def best_ask(self) -> int | None:
        return min(self.levels[1]) if self.levels[1] else None

    def add_limit(self, side: int, price: int, size: int, own: bool = False) -> int | None:
        """Rest an order; refuses (None) a non-positive size or a price that would cross."""
        if size <= 0:
            return None
        opp = self.best_ask() if side == 0 else self.best_bid()
        if opp is not None and ((side == 0 and price >= opp) or (side == 1 and price <= opp)):
            return None
        oid = self._next_id
        self._next_id += 1
        order = RefOrder(oid, side, price, size, own)
        self.levels[side].setdefault(price, deque()).append(order)
        self.orders[oid] = order
        return oid

    def cancel(self, oid: int) -> int:
        order = self.orders.pop(oid, None)
        if order is None:
            return 0
        q = self.levels[order.side][order.price]
        q.remove(order)
        if not q:
            del self.levels[order.side][order.price]
        return order.size

    def execute_market(self, aggressor_side: int, size: int, limit_price: int) -> int:
        side = 1 - aggressor_side
        remaining = size
        while remaining > 0 and self.levels[side]:
            price = min(self.levels[side]) if side == 1 else max(self.levels[side])
            if (side == 1 and price > limit_price) or (side == 0 and price < limit_price):
                break
            q = self.levels[side][price]
            while remaining > 0 and q:
                head = q[0]
                take = min(head.size, remaining)
                if head.own:
                    self.own_fills.append((head.oid, price, take))
                head.size -= take
                remaining -= take
                if head.size == 0:
                    q.popleft()
                    del self.orders[head.oid]
            if not q:
                del self.levels[side][price]
        return size - remaining

    def volume_ahead(self, oid: int) -> int:
        order = self.orders[oid]
        ahead = 0
        for o in self.levels[order.side][order.price]:
            if o is order:
                return ahead
            ahead += o.size
        raise AssertionError("order not in its level")

    def level_volume(self, side: int, price: int) -> int:
        return sum(o.size for o in self.levels[side].get(price, ()))

    def depth(self, side: int, n: int) -> list[tuple[int, int]]:
        prices = sorted(self.levels[side], reverse=(side == 0))[:n]
        return [(p, self.level_volume(side, p)) for p in prices]
