r"""Look over an input folder before anything is loaded: which files are DICOM, which series are eligible.

Every file's header is read once with pydicom, up to the pixel data, whose presence and length are checked
without reading it (the SDK's loader reads the pixels once, later); nothing is written, and symlinked folders
are not followed so links cannot loop. A series is eligible when it is a primary axial CT image series with
the geometry the app needs:

- CT Image Storage, Modality CT, ImageType ORIGINAL\PRIMARY or DERIVED\PRIMARY (what many scanners and
  PACS store for reconstructed axial series), never LOCALIZER or SECONDARY, and not this app's own output
  (its DerivationDescription says so), so scouts, dose reports, SEG, SR and harmonized series are never
  harmonized;
- one Rows x Columns, PixelSpacing (positive, finite) and ImageOrientationPatient for all slices, axial
  (the slice normal along the patient's z; flipped rows or columns are fine);
- ImagePositionPatient on every slice, no gantry tilt (positions move along the slice normal only), no two
  slices at one position, evenly spaced slices;
- complete, decodable pixel data (16-bit or 8-bit monochrome; compressed syntaxes when a pydicom decoder is
  installed), finite rescale.

Files that are DICOM in all but form are read as what they are and staged as a conforming copy (the input is
never changed): a dataset written without preamble and file meta (read in the encoding it was written in),
file meta without a TransferSyntaxUID, and SOP Class/Instance UIDs emptied in the dataset (de-identification)
but kept in the file meta. Unreadable or truncated files are skipped and listed (the rest of the folder still
loads). Faults that leave
nothing to do raise ``InputError`` with one line: missing or empty folder, no DICOM, more than one study,
no eligible series (with each series' reason).
"""
from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import CTImageStorage

from common.errors import InputError

from .derived_series import HARMONIZED_BY

MAX_PIXELS = 4096 * 4096


@dataclass
class SeriesScan:
    uid: str
    number: str
    description: str
    files: list[Path]                  # sorted along the slice normal when eligible
    reason: str | None = None          # why not eligible; None when eligible
    rows: int = 0
    columns: int = 0

    @property
    def derived_bytes(self) -> int:
        """About what its derived series takes on disk: 16-bit uncompressed pixels plus a header per slice,
        its SEG (a bit per pixel) and its SR and QA figure (about 3 MB, the figure's RGB pixels)."""
        return len(self.files) * (2 * self.rows * self.columns + 4096 + self.rows * self.columns // 8) + 3_000_000

    @property
    def label(self) -> str:
        number = f"series {self.number or '?'}"
        return f"{number} '{self.description}'" if self.description else number


@dataclass
class StudyScan:
    folder: Path
    study_uid: str
    eligible: list[SeriesScan]
    skipped: list[SeriesScan]
    bad_files: list[tuple[Path, str]] = field(default_factory=list)
    rewrite: dict[Path, str] = field(default_factory=dict)     # files staged as a conforming copy, and why


def list_files(folder: Path) -> list[Path]:
    """Regular files under ``folder``, recursively, without following symlinked folders (no loops)."""
    out = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            p = Path(root) / name
            if p.is_file():                 # follows a file symlink; a broken one is skipped
                out.append(p)
    return out


def _number(ds, keyword: str, default: float) -> float | None:
    """``keyword``'s one value as a finite number (``default`` when absent or empty); None when it holds
    several values or is not a number (a header that breaks its VM or VR)."""
    value = ds.get(keyword)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _pixel_problem(ds, pixel_bytes: int | None) -> str | None:
    """Why the pixel data cannot be used, or None. ``pixel_bytes``: the pixel data's length in the file (None:
    no pixel data; -1: encapsulated, undefined length)."""
    if pixel_bytes is None:
        return "no pixel data"
    numbers = {k: _number(ds, k, default) for k, default in
               (("Rows", 0), ("Columns", 0), ("SamplesPerPixel", 1), ("BitsAllocated", 0), ("NumberOfFrames", 1))}
    broken = [k for k, v in numbers.items() if v is None]
    if broken:
        return f"invalid {', '.join(broken)}"
    rows, cols = int(numbers["Rows"] or 0), int(numbers["Columns"] or 0)
    if rows < 1 or cols < 1:
        return "no image size"
    if rows * cols > MAX_PIXELS:
        return f"image size {rows}x{cols} too large"
    if int(numbers["SamplesPerPixel"] or 1) != 1 or str(ds.get("PhotometricInterpretation", "")) not in (
            "MONOCHROME1", "MONOCHROME2"):
        return "not a monochrome image"
    bits = int(numbers["BitsAllocated"] or 0)
    if bits not in (8, 16):
        return f"{bits}-bit pixels"
    frames = int(numbers["NumberOfFrames"] or 1)
    ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
    if ts is not None and ts.is_compressed:
        from pydicom.pixels import get_decoder

        try:
            decoder = get_decoder(ts)
        except NotImplementedError:
            decoder = None
        if decoder is None or not decoder.is_available:
            return f"compressed pixel data ({ts.name}) with no decoder installed"
        return None
    if pixel_bytes < rows * cols * frames * bits // 8:
        return "truncated pixel data"
    return None


_PIXEL_TAG = {b"\xe0\x7f\x10\x00": "<", b"\x7f\xe0\x00\x10": ">"}      # (7FE0,0010), little / big endian


def _pixel_bytes(fp, size: int, implicit_vr: bool) -> int | None:
    """Length of the Pixel Data value that starts at ``fp``'s position (where pydicom stopped before it):
    what the file really holds, at most what the element declares; -1 when encapsulated; None when absent."""
    head = fp.read(12)
    order = _PIXEL_TAG.get(head[:4])
    if order is None:
        return None
    header = 8 if implicit_vr else 12
    declared = int.from_bytes(head[header - 4:header], "little" if order == "<" else "big")
    if declared == 0xFFFFFFFF:
        return -1
    return max(0, min(declared, size - fp.tell() + len(head) - header))


def _dcmread(path: Path, fp=None, **kwargs):
    """pydicom's reading, and for a bare dataset (no preamble, no file meta) the same with ``force``: kept only
    if it reads as an image's dataset (its UIDs and Modality)."""
    try:
        return pydicom.dcmread(fp or path, **kwargs), None
    except InvalidDicomError:
        if fp is not None:
            fp.seek(0)
        ds = pydicom.dcmread(fp or path, force=True, **kwargs)
        if not all(k in ds for k in ("SOPInstanceUID", "SeriesInstanceUID", "Modality")):
            raise
        return ds, "written without preamble and file meta"


def conform_header(ds) -> list[str]:
    """Fill what a file's form lost (see the module notes) in ``ds``; what was done, one line each."""
    done = []
    meta = getattr(ds, "file_meta", None)
    for keyword, meta_keyword in (("SOPClassUID", "MediaStorageSOPClassUID"),
                                  ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
        if not ds.get(keyword) and meta is not None and meta.get(meta_keyword):
            setattr(ds, keyword, meta.get(meta_keyword))
            done.append(f"{keyword} empty in the dataset; taken from the file meta")
    if meta is None or not meta.get("TransferSyntaxUID"):
        from pydicom.dataset import FileMetaDataset
        from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

        meta = meta if meta is not None else FileMetaDataset()
        implicit, little = ds.original_encoding
        if little is False:
            raise ValueError("a big-endian dataset without file meta")
        meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
        ds.file_meta = meta
        done.append(f"no transfer syntax in the file meta; read as {meta.TransferSyntaxUID.name}")
    return done


def conforming_copy(path: Path, dest: Path) -> Path:
    """``path`` rewritten to ``dest`` as a conforming DICOM file (``conform_header``), pixels as they were."""
    ds, _ = _dcmread(path)
    conform_header(ds)
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.save_as(dest, enforce_file_format=True)
    return dest


def _read(path: Path):
    """(header dataset, pixel bytes, None, why it needs a conforming copy or None) or (None, None, reason,
    None); the pixel data itself is not read."""
    try:
        with open(path, "rb") as fp:
            ds, bare = _dcmread(path, fp, stop_before_pixels=True)
            pixel_bytes = _pixel_bytes(fp, os.fstat(fp.fileno()).st_size, bool(ds.original_encoding[0]))
        fixes = ([bare] if bare else []) + conform_header(ds)
    except InvalidDicomError:
        return None, None, "not DICOM", None
    except Exception as e:  # noqa: BLE001 - any parser failure makes the file unusable, never the run
        return None, None, f"unreadable ({type(e).__name__})", None
    if not ds.get("SOPInstanceUID") or "SeriesInstanceUID" not in ds or "StudyInstanceUID" not in ds:
        return None, None, "DICOM without SOP, series or study UID", None
    return ds, pixel_bytes, None, "; ".join(fixes) or None


def _floats(value, n: int) -> list[float] | None:
    try:
        v = [float(x) for x in value]
    except (TypeError, ValueError):
        return None
    return v if len(v) == n and all(math.isfinite(x) for x in v) else None


def _series_reason(items: list[tuple[Path, pydicom.Dataset, int | None]]) -> tuple[str | None, list[Path]]:
    """Why a series is not eligible (or None) and its files sorted along the slice normal."""
    first = items[0][1]
    if str(first.get("Modality", "")) != "CT":
        return f"modality {first.get('Modality', 'missing')}", []
    if first.get("SOPClassUID") != CTImageStorage:
        name = getattr(first.get("SOPClassUID"), "name", str(first.get("SOPClassUID")))
        return f"not CT Image Storage ({name})", []
    image_type = [str(x).strip().upper() for x in (first.get("ImageType") or [])]
    if "LOCALIZER" in image_type:
        return "localizer (scout)", []
    if str(first.get("DerivationDescription", "")).startswith(HARMONIZED_BY):
        return "this app's own harmonized output", []
    if len(image_type) < 2 or image_type[0] not in ("ORIGINAL", "DERIVED") or image_type[1] != "PRIMARY" \
            or "SECONDARY" in image_type:
        return f"ImageType {'/'.join(image_type) or 'missing'} is not ORIGINAL or DERIVED, PRIMARY", []
    uids = [str(ds.SOPInstanceUID) for _, ds, _ in items]
    if len(set(uids)) != len(uids):
        return "duplicate SOPInstanceUID", []
    sizes, spacings, orients, positions = set(), set(), set(), []
    for path, ds, pixel_bytes in items:
        problem = _pixel_problem(ds, pixel_bytes)
        if problem:
            return f"{problem} in {path.name}", []
        sizes.add((int(ds.Rows), int(ds.Columns)))
        sp = _floats(ds.get("PixelSpacing"), 2)
        if sp is None or min(sp) <= 0:
            return "missing or invalid PixelSpacing", []
        spacings.add(tuple(round(x, 4) for x in sp))
        iop = _floats(ds.get("ImageOrientationPatient"), 6)
        if iop is None:
            return "missing ImageOrientationPatient", []
        orients.add(tuple(round(x, 4) for x in iop))
        ipp = _floats(ds.get("ImagePositionPatient"), 3)
        if ipp is None:
            return "missing ImagePositionPatient", []
        positions.append(ipp)
        slope, intercept = ds.get("RescaleSlope", 1), ds.get("RescaleIntercept", 0)
        if _floats([slope, intercept], 2) is None or float(slope) == 0:
            return "invalid RescaleSlope/RescaleIntercept", []
    if len(sizes) > 1:
        return "slices of different sizes", []
    if len(spacings) > 1:
        return "inconsistent PixelSpacing", []
    if len(orients) > 1:
        return "inconsistent ImageOrientationPatient", []
    orientation = np.array(next(iter(orients)))
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    if abs(np.linalg.norm(normal) - 1) > 0.01 or abs(float(np.dot(row, col))) > 0.01:
        return "ImageOrientationPatient is not orthonormal", []
    if abs(normal[2]) < 0.999:
        tilt = math.degrees(math.acos(min(1.0, abs(normal[2]))))
        return f"not axial (slice normal {tilt:.1f} deg from z: gantry tilt or oblique)", []
    gantry = _number(items[0][1], "GantryDetectorTilt", 0.0)
    if gantry is None:
        return "invalid GantryDetectorTilt", []
    if abs(gantry) > 0.01:
        return f"gantry tilt {gantry:.1f} deg", []
    pos = np.array(positions)
    along = pos @ normal
    order = np.argsort(along, kind="stable")
    files = [items[i][0] for i in order]
    if len(pos) > 1:
        along = along[order]
        gaps = np.diff(along)
        pixel = min(next(iter(spacings)))
        if np.any(gaps < 1e-3):
            return "two slices at one position", []
        if gaps.max() - gaps.min() > max(0.1 * np.median(gaps), 0.01):
            return f"inconsistent slice spacing ({gaps.min():.2f} to {gaps.max():.2f} mm)", []
        inplane = pos[order] - pos[order][0] - np.outer(along - along[0], normal)
        if np.abs(inplane).max() > 0.1 * pixel:
            return "slice positions drift in-plane (gantry tilt or sheared stack)", []
    return None, files


def scan_study(folder: Path) -> StudyScan:
    """See the module notes. Raises ``InputError`` when nothing can be harmonized."""
    folder = Path(folder)
    if not folder.exists():
        raise InputError(f"input folder {folder} does not exist")
    if not folder.is_dir():
        raise InputError(f"input {folder} is not a folder")
    files = list_files(folder)
    if not files:
        raise InputError(f"input folder {folder} is empty")
    bad, by_series, studies, rewrite = [], defaultdict(list), set(), {}
    for path in files:
        ds, pixel_bytes, why, fixes = _read(path)
        if ds is None:
            bad.append((path, why))
            continue
        if fixes:
            rewrite[path] = fixes
        studies.add(str(ds.StudyInstanceUID))
        by_series[str(ds.SeriesInstanceUID)].append((path, ds, pixel_bytes))
    if not by_series:
        raise InputError(f"no DICOM files in {folder} ({len(bad)} other files)")
    if len(studies) > 1:
        raise InputError(f"input holds {len(studies)} studies; give the app one study per run")
    eligible: list[SeriesScan] = []
    skipped: list[SeriesScan] = []
    for uid, items in sorted(by_series.items(), key=lambda kv: str(kv[1][0][1].get("SeriesNumber", ""))):
        first = items[0][1]
        reason, sorted_files = _series_reason(items)
        scan = SeriesScan(uid, str(first.get("SeriesNumber", "")), str(first.get("SeriesDescription", "")),
                          sorted_files or [p for p, _, _ in items], reason,
                          int(first.get("Rows", 0) or 0), int(first.get("Columns", 0) or 0))
        (skipped if reason else eligible).append(scan)
    if not eligible:
        why = "; ".join(f"{s.label}: {s.reason}" for s in skipped[:4])
        more = f"; {len(skipped) - 4} more" if len(skipped) > 4 else ""
        raise InputError(f"no eligible axial CT series in {folder} ({why}{more})")
    return StudyScan(folder, studies.pop(), eligible, skipped, bad, rewrite)


def stage(scan: StudyScan, dest: Path) -> Path:
    """A folder of symlinks to the eligible series' files only, for the SDK's loader (a conforming copy for
    a file that needs one, ``scan.rewrite``); returns ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for i, series in enumerate(scan.eligible):
        sub = dest / f"series_{i:03d}"
        sub.mkdir()
        for j, f in enumerate(series.files):
            if f in scan.rewrite:
                conforming_copy(f, sub / f"{j:05d}.dcm")
            else:
                (sub / f"{j:05d}.dcm").symlink_to(f.resolve())
    return dest
