"""What travels between the operators for one series: source datasets, HU volume, geometry, results."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydicom.pixels import apply_rescale


@dataclass
class SeriesJob:
    datasets: list                       # pydicom Datasets of the source slices, sorted along the normal
    volume_hu: np.ndarray                # (K, rows, cols) float32 HU, rescaled slice by slice
    spacing_mm: tuple[float, float]      # (row, col) = DICOM PixelSpacing of the *source* (not the SDK's)
    mtf: dict | None = None              # physics CLI keys + "source" (measured / kernel-table / default)
    mtf2d: np.ndarray | None = None      # (64, 64) float32
    harmonized_hu: np.ndarray | None = None
    model: dict | None = None            # name, version, sha256, device
    lungs: np.ndarray | None = None      # lung mask of the input (QA report)
    noise: dict | None = None            # the input's noise: sd_hu, nps_frequencies_per_mm, nps_1d
    domain: dict | None = None           # the domain gate's measurements, checks and verdict
    guard: dict | None = None            # the consistency guard's checks
    rejection: str | None = None         # why this series is not written (domain gate or guard), else None
    report: dict = field(default_factory=dict)
    figure_png: bytes | None = None
    padding: np.ndarray | None = None    # (K, rows, cols) bool: the source's pixel padding, None when none
    padding_hu: float | None = None      # the padding value in HU, written back there in the derived series

    @property
    def label(self) -> str:
        """How a message names the series: its number, description and SeriesInstanceUID."""
        first = self.datasets[0]
        return (f"series {first.get('SeriesNumber', '') or '?'} "
                f"\"{first.get('SeriesDescription', '') or ''}\" ({self.series_uid})")

    @property
    def derivation_note(self) -> str | None:
        """What the DerivationDescription adds: the domain gate's verdict for a series harmonized outside it."""
        d = self.domain
        return d["verdict"] if d and d.get("harmonized_outside_domain") else None

    @property
    def uid_basis(self) -> str:
        """What the derived objects' UIDs are hashed from beside their source UIDs (``derived_series.uid_basis``)."""
        from .derived_series import uid_basis

        return uid_basis(self.model or {"sha256": None}, self.mtf, self.derivation_note)

    @property
    def series_uid(self) -> str:
        return str(self.datasets[0].SeriesInstanceUID)

    @property
    def orientation(self) -> np.ndarray:
        return np.array([float(v) for v in self.datasets[0].ImageOrientationPatient])

    @property
    def slice_geometry(self) -> dict:
        """``slice_thickness_mm`` and ``slice_spacing_mm`` (None where unknown), as ``estimate_mtf`` takes them."""
        thickness = self.datasets[0].get("SliceThickness")
        try:
            thickness = float(thickness) if thickness not in (None, "") else None
        except (TypeError, ValueError):
            thickness = None
        return {"slice_thickness_mm": thickness, "slice_spacing_mm": slice_spacing_mm(self.datasets)}

    @property
    def voxel_mm3(self) -> float:
        dz = slice_spacing_mm(self.datasets) or float(self.datasets[0].get("SliceThickness", 1.0) or 1.0)
        return float(self.spacing_mm[0] * self.spacing_mm[1] * dz)


AIR_HU = -1024.0


def padding_mask(ds, stored: np.ndarray) -> np.ndarray | None:
    """Pixels that are padding, not image (PixelPaddingValue, up to PixelPaddingRangeLimit when present: what
    GE and Siemens write outside the circular field of view), compared in stored values; None when none."""
    value = ds.get("PixelPaddingValue")
    if value is None or isinstance(value, (bytes, list)):
        return None
    limit = ds.get("PixelPaddingRangeLimit")

    def as_stored(v) -> int:
        v = int(v)
        bits = int(ds.get("BitsAllocated", 16))
        if int(ds.get("PixelRepresentation", 0)) == 1 and v >= 2 ** (bits - 1):    # a US value of signed pixels
            v -= 2 ** bits
        return v

    lo = hi = as_stored(value)
    if limit is not None and not isinstance(limit, (bytes, list)):
        lo, hi = sorted((lo, as_stored(limit)))
    mask = (stored >= lo) & (stored <= hi)
    return mask if mask.any() else None


NON_PHYSICAL_HU = -1500.0     # below air by far more than any noise: no scanner measures it inside its field


def out_of_field(hu: np.ndarray) -> np.ndarray | None:
    """Pixels of one value below ``NON_PHYSICAL_HU``, connected to the image's border and at least 1 % of it:
    the outside of a circular field of view that a scanner wrote without declaring it as padding (noise in
    air never makes such a region: it is neither that large nor one value); None when none."""
    from scipy import ndimage as ndi

    low = hu < NON_PHYSICAL_HU
    if low.sum() < 0.01 * hu.size:
        return None
    values, counts = np.unique(hu[low], return_counts=True)
    value = values[np.argmax(counts)]
    same = hu == value
    if same.sum() < 0.01 * hu.size:
        return None
    labels, _ = ndi.label(same)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    mask = np.isin(labels, border[border > 0])
    return mask if mask.sum() >= 0.01 * hu.size else None


def padded_hu_slice(ds) -> tuple[np.ndarray, np.ndarray | None, float | None]:
    """(HU as float32 with padding pixels set to air, the padding mask or None, the padding value in HU).
    Padding is what PixelPaddingValue declares (``padding_mask``), or else an undeclared out-of-field
    region (``out_of_field``); its value is the most common HU there."""
    stored = ds.pixel_array
    hu = np.asarray(apply_rescale(stored, ds), dtype=np.float32)
    mask = padding_mask(ds, stored)
    if mask is None:
        mask = out_of_field(hu)
    if mask is None:
        return hu, None, None
    values, counts = np.unique(hu[mask], return_counts=True)
    padding_hu = float(values[np.argmax(counts)])
    hu[mask] = AIR_HU
    return hu, mask, padding_hu


def hu_slice(ds) -> np.ndarray:
    """One slice in HU as float32: pydicom's modality rescale applied to this slice's own slope/intercept;
    pixel padding (``padding_mask``) reads as air, what the scanner saw outside its field of view."""
    return padded_hu_slice(ds)[0]


def slice_spacing_mm(datasets) -> float | None:
    """Distance between neighbouring slices along the normal; None for a single slice."""
    if len(datasets) < 2:
        return None
    iop = np.array([float(v) for v in datasets[0].ImageOrientationPatient])
    normal = np.cross(iop[:3], iop[3:])
    along = sorted(float(np.dot([float(v) for v in ds.ImagePositionPatient], normal)) for ds in datasets)
    return float(np.median(np.diff(along)))


def pixel_spacing_mm(ds) -> tuple[float, float]:
    """(row, col) spacing from the dataset itself: PixelSpacing is [between rows, between columns]."""
    return float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1])
