"""A folder that appears whole or not at all.

``write_folder(final, fill)`` lets ``fill`` write into a hidden ``.<name>.partial-<pid>`` beside ``final`` and
renames it to ``final`` only when ``fill`` returns; an older ``final`` is first renamed to
``.<name>.old-<pid>`` and removed after the swap. Any failure (full disk, exception, Ctrl-C) removes the
partial folder; a SIGKILL leaves it hidden, and the next ``write_folder`` in that parent removes it once its
process is gone.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_partials(parent: Path) -> None:
    """Delete hidden ``.<name>.partial-<pid>`` / ``.stopping-<pid>`` / ``.old-<pid>`` folders of processes that no
    longer run (``.stopping``: a partial folder the app was removing when it stopped)."""
    for p in Path(parent).glob(".*.*-*"):
        kind, _, pid = p.name.rpartition("-")
        if p.is_dir() and pid.isdigit() and kind.endswith((".partial", ".stopping", ".old")) and not _alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


def write_file(final: Path, fill: Callable[[Path], object]) -> Path:
    """Make the file ``final`` from what ``fill(temporary_path)`` writes, whole or not at all: written
    beside it under a hidden name that keeps its suffix, then renamed over it; returns ``final``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.partial-{os.getpid()}{final.suffix}")
    try:
        fill(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def write_folder(final: Path, fill: Callable[[Path], None]) -> Path:
    """Make ``final`` from what ``fill(temporary_folder)`` writes, all or nothing; returns ``final``."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(final.parent)
    tmp = final.with_name(f".{final.name}.partial-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        fill(tmp)
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            final.rename(old)
            tmp.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
