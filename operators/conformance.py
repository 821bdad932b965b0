"""A derived dataset made valid where its source was not: what the standard requires, repaired, and said.

Sources from real scanners and PACS exports break the standard in ways that the derived series would inherit
attribute by attribute (hex strings as UIDs, a Patient's Age of "22Y ", a Study ID longer than 16 characters,
no Frame of Reference, a de-identified patient with no de-identification method). A derived object must be
valid DICOM, so ``repair`` changes, on the derived dataset only (the source is never touched):

- a value that its VR does not allow (pydicom's validation, plus the UID grammar: digits, no leading zeros):
  a UID becomes ``2.25.<hash of the invalid string>`` (the same string always gives the same UID, so the
  series of one invalid study still share one study UID); a string too long is clipped; a CS value is
  upper-cased with other characters as ``_``; an age is zero-padded ("22Y " -> "022Y"); a date or time that
  cannot be read is emptied;
- Type 1 and 2 attributes a CT image needs and the source lacks: FrameOfReferenceUID (hashed from the source
  series), PositionReferenceIndicator, Laterality (when no BodyPartExamined says it is unpaired) and
  PatientPosition (empty), DeidentificationMethod when PatientIdentityRemoved is YES.

It returns one line per repair, for the report.
"""
from __future__ import annotations

import re

from pydicom import config
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import validate_value

from common.dicom import hashed_uid

UID_GRAMMAR = re.compile(r"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$")
MAX_LENGTH = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "ST": 1024, "LT": 10240, "UC": None, "PN": 64}
TEXT_VRS = ("AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UI", "PN")


def valid_uid(value: str) -> bool:
    return bool(value) and len(value) <= 64 and bool(UID_GRAMMAR.match(value))


def repaired_uid(value: str) -> str:
    """The valid UID that stands for an invalid one, the same for the same string."""
    return hashed_uid("ct-harmonizer repaired uid|" + value)


def _valid(vr: str, value) -> bool:
    if vr == "UI":
        return valid_uid(str(value))
    try:
        validate_value(vr, value, config.RAISE)
        return True
    except ValueError:
        return False


def _fixed(vr: str, value):
    """A valid value for an invalid ``value`` of ``vr``, or None (empty it)."""
    text = str(value).strip() if value is not None else ""
    if vr == "UI":
        return repaired_uid(str(value))
    if vr == "AS":
        m = re.fullmatch(r"0*(\d{1,3})\s*([DWMY])", text.upper())
        return f"{int(m.group(1)):03d}{m.group(2)}" if m else None
    if vr == "CS":
        text = re.sub(r"[^A-Z0-9 _]", "_", text.upper())[:16]
        return text or None
    if vr in MAX_LENGTH and MAX_LENGTH[vr]:
        text = text.replace("\\", "/")[: MAX_LENGTH[vr]]
        return text if _valid(vr, text) else None
    return None                                   # DA, DT, TM and anything else that does not read


def _values(elem: DataElement) -> list:
    return list(elem.value) if elem.VM > 1 else [elem.value]


def _repair_values(ds: Dataset, path: str, notes: list[str]) -> None:
    for elem in list(ds):
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                _repair_values(item, f"{path}{elem.keyword or elem.tag}[{i}].", notes)
            continue
        if elem.VR not in TEXT_VRS or elem.value in (None, "") or elem.tag == 0x7FE00010:
            continue
        values = _values(elem)
        if all(_valid(elem.VR, v) for v in values if v not in (None, "")):
            continue
        fixed = [v if v in (None, "") or _valid(elem.VR, v) else _fixed(elem.VR, v) for v in values]
        name = f"{path}{elem.keyword or elem.tag}"
        if all(v is None for v in fixed):
            notes.append(f"{name}: {str(elem.value)!r} is not a valid {elem.VR}; emptied")
            elem.value = None
        else:
            fixed = ["" if v is None else v for v in fixed]
            notes.append(f"{name}: invalid {elem.VR} {values if len(values) > 1 else values[0]!r} -> "
                         f"{fixed if len(fixed) > 1 else fixed[0]!r}")
            elem.value = fixed if len(fixed) > 1 else fixed[0]


def repair(ds: Dataset, source_series_uid: str) -> list[str]:
    """Make ``ds`` (a derived CT image) valid where its source was not; one line per repair."""
    notes: list[str] = []
    _repair_values(ds, "", notes)
    if not ds.get("FrameOfReferenceUID"):
        ds.FrameOfReferenceUID = hashed_uid("ct-harmonizer frame of reference|" + source_series_uid)
        notes.append("FrameOfReferenceUID: absent in the source (Type 1); one made for the series")
    if "PositionReferenceIndicator" not in ds:
        ds.PositionReferenceIndicator = None
    if "Laterality" not in ds and "ImageLaterality" not in ds and not ds.get("BodyPartExamined"):
        ds.Laterality = None          # Type 2C: required unless the body part is known to be unpaired
    if "PatientPosition" not in ds and "PatientOrientationCodeSequence" not in ds:
        ds.PatientPosition = None
    if str(ds.get("PatientIdentityRemoved", "")).upper() == "YES" and not (
            ds.get("DeidentificationMethod") or ds.get("DeidentificationMethodCodeSequence")):
        ds.DeidentificationMethod = "as received: the source states PatientIdentityRemoved YES"
        notes.append("DeidentificationMethod: absent with PatientIdentityRemoved YES (Type 1C); stated as received")
    return notes
