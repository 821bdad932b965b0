"""Per-slice work on a pool of one thread per core: numpy and scipy release the GIL in their C loops, so slices
of a volume run side by side; each result depends on its own slice only, never on the number of threads."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor


def thread_map(fn, *iterables) -> list:
    """``[fn(a, b, ...) for a, b, ... in zip(*iterables)]`` on a pool of one thread per core (``iterables``
    sized: sequences, ranges, arrays)."""
    workers = min(min(len(it) for it in iterables), os.cpu_count() or 1)
    if workers <= 1:
        return list(map(fn, *iterables))
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, *iterables))
