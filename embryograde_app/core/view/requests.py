"""Work queue for background inference: the frame on screen first, then its neighbours.

When the user moves on, the pending requests are replaced wholesale (stale work is dropped, not done);
the worker takes the most urgent item. Thread-safe, Qt-free.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class ReplaceableQueue(Generic[T]):
    """Pending items in priority order; `replace` swaps the whole plan, `get` blocks for the next item."""

    def __init__(self) -> None:
        self._items: list[T] = []
        self._cond = threading.Condition()
        self._closed = False

    def replace(self, items: Iterable[T]) -> None:
        with self._cond:
            self._items = list(items)
            self._cond.notify_all()

    def extend(self, items: Iterable[T]) -> None:
        with self._cond:
            self._items.extend(items)
            self._cond.notify_all()

    def get(self, timeout: float | None = None) -> T | None:
        """Next item, or None after timeout or once closed."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._closed or not self._items:
                return None
            return self._items.pop(0)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entry (predictions of visited frames)."""

    def __init__(self, max_items: int):
        self.max_items = max_items
        self._data: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        if key in self._data:
            self._data.move_to_end(key)
            return self._data[key]
        return None

    def put(self, key: K, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.max_items:
            self._data.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget one entry (its source changed); a missing key is not an error."""
        self._data.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        self._data.clear()


def neighbour_order(current: int, count: int, radius: int) -> list[int]:
    """current, current+1, current-1, current+2, ... within [0, count): what to infer next."""
    order = [current] if 0 <= current < count else []
    for d in range(1, radius + 1):
        order.extend(i for i in (current + d, current - d) if 0 <= i < count)
    return order
