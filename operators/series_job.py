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
    report: dict = field(default_factory=dict)
    figure_png: bytes | None = None

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


def hu_slice(ds) -> np.ndarray:
    """One slice in HU as float32: pydicom's modality rescale applied to this slice's own slope/intercept."""
    return np.asarray(apply_rescale(ds.pixel_array, ds), dtype=np.float32)


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
