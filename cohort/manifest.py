"""Which studies a cohort holds: a CSV manifest or a folder of study folders.

A manifest is a CSV with a ``path`` column (a study folder, relative to the CSV's own folder or absolute) and
optionally ``study`` (the study's key in the outputs; default the folder's name) and ``subject`` (who was
scanned, to group renditions of the same person; default the PatientID of the study's files). A folder
instead of a CSV: each of its sub-folders is one study, keyed by its name.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from common.errors import InputError


@dataclass(frozen=True)
class Study:
    key: str                 # unique in the cohort; names the study's output folder and record
    path: Path               # the study folder
    subject: str | None = None     # None: the PatientID of its files


def safe_key(text: str) -> str:
    """``text`` as a file name: letters, digits, ``.``, ``_`` and ``-``; anything else becomes ``_``."""
    key = re.sub(r"[^A-Za-z0-9._-]", "_", text.strip()).strip(".")
    return key or "_"


def read_manifest(source: Path) -> list[Study]:
    """The studies of ``source`` (a CSV manifest or a folder of study folders; see the module notes).
    Raises ``InputError`` on a manifest without a ``path`` column, with no study, or with a key twice."""
    source = Path(source)
    if source.is_dir():
        studies = [Study(safe_key(p.name), p) for p in sorted(source.iterdir()) if p.is_dir()]
    elif source.is_file():
        with open(source, newline="") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "path" not in reader.fieldnames:
                raise InputError(f"manifest {source} has no 'path' column (columns: path, study, subject)")
            studies = []
            for line, row in enumerate(reader, start=2):
                if not (row.get("path") or "").strip():
                    raise InputError(f"manifest {source} line {line}: empty path")
                path = Path(row["path"].strip())
                path = path if path.is_absolute() else source.parent / path
                key = safe_key(row.get("study") or path.name)
                studies.append(Study(key, path, (row.get("subject") or "").strip() or None))
    else:
        raise InputError(f"cohort {source} does not exist (give a CSV manifest or a folder of study folders)")
    if not studies:
        raise InputError(f"cohort {source} holds no study")
    seen: set[str] = set()
    for s in studies:
        if s.key in seen:
            raise InputError(f"cohort {source}: study key {s.key!r} is given twice (set a 'study' column)")
        seen.add(s.key)
    return studies
