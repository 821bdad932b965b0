"""Per-slice work on a pool of one thread per core: numpy and scipy release the GIL in their C loops, so slices
of a volume run side by side; each result depends on its own slice only, never on the number of threads."""
from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor


def thread_map(fn, *iterables) -> list:
    """``[fn(a, b, ...) for a, b, ... in zip(*iterables)]`` on a pool of one thread per core (``iterables``
    sized: sequences, ranges, arrays)."""
    workers = min(min(len(it) for it in iterables), os.cpu_count() or 1)
    if workers <= 1:
        return list(map(fn, *iterables))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, *iterables))


def thread_imap(fn, items) -> Iterator:
    """``fn(item)`` for each item, yielded in order, computed a core's worth of items at a time: a caller that
    stops once it has enough has had at most one core's worth more computed than it used."""
    items = list(items)
    workers = min(len(items), os.cpu_count() or 1)
    if workers <= 1:
        yield from map(fn, items)
        return
    with ThreadPoolExecutor(workers) as pool:
        for start in range(0, len(items), workers):
            yield from pool.map(fn, items[start:start + workers])
