"""Real scanners' slices through a model: the behaviour checks of ``physics.consistency``, no ground truth.

The slices are the real CT images that packages ship (pydicom's test files and the pydicom-data wheel): a
GE slice (``CT_small.dcm``), CQ500 head slices (``693_*``), a Siemens neck slice (``bad_sequence.dcm``),
a TCIA pancreas slice (``explicit_VR-UN.dcm``) and a head slice with a JPEG 2000 pixel-representation
mismatch. Each is harmonized as the app does (its MTF input measured on the skin-air edge, else from the
kernel's name, else the default) and checked.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REAL_SLICES = {
    "CT_small.dcm": ("pydicom", "GE, 128 x 128, 5 mm, STANDARD"),
    "693_UNCR.dcm": ("pydicom-data", "CQ500 head, 5 mm, 140 kVp, STANDARD"),
    "693_J2KR.dcm": ("pydicom-data", "CQ500 head, JPEG 2000 lossless"),
    "bad_sequence.dcm": ("pydicom-data", "Siemens neck, 0.29 mm pixels, B30s"),
    "explicit_VR-UN.dcm": ("pydicom-data", "TCIA pancreas, 0.86 mm pixels"),
    "J2K_pixelrep_mismatch.dcm": ("pydicom", "head, 0.43 mm pixels, JPEG 2000"),
}


def real_slice_path(name: str) -> Path | None:
    """Where an installed package holds ``name`` (None when the package is absent)."""
    source = REAL_SLICES[name][0]
    try:
        if source == "pydicom":
            from pydicom.data import get_testdata_file
            path = get_testdata_file(name)
            return Path(path) if path else None
        import data_store
        path = Path(os.path.dirname(data_store.__file__)) / "data" / name
        return path if path.is_file() else None
    except ImportError:
        return None


@dataclass
class RealSlice:
    name: str
    hu: np.ndarray                  # (1, rows, cols) float32
    spacing_mm: tuple[float, float]
    orientation: tuple
    kernel: object


def read_real_slice(name: str) -> RealSlice:
    import pydicom

    from operators.series_job import hu_slice

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(real_slice_path(name))
        hu = hu_slice(ds)           # as the app reads a slice
    orientation = tuple(float(v) for v in getattr(ds, "ImageOrientationPatient", (1, 0, 0, 0, 1, 0)))
    return RealSlice(name, hu[None], tuple(float(v) for v in ds.PixelSpacing), orientation,
                     getattr(ds, "ConvolutionKernel", None))


def check_slice(model, sl: RealSlice) -> dict:
    """Harmonize one real slice with a loaded model (``None``: the input itself) and check its behaviour."""
    from operators.harmonize import harmonize_volume
    from operators.mtf_input import mtf_input
    from physics.consistency import behaviour
    from physics.noise import noise_sd

    info, m2d = mtf_input(sl.hu, sl.spacing_mm, sl.kernel, sl.orientation)
    out = sl.hu if model is None else harmonize_volume(model, sl.hu, m2d, sl.orientation)
    checks = behaviour(sl.hu[0], out[0], sl.spacing_mm, np.array(info["frequencies_per_mm"]),
                       np.array(info["mtf"]), noise_sd(sl.hu, sl.spacing_mm))
    if model is None:       # the input is no estimate of the truth: the re-blur check does not apply
        checks.pop("reblur_residual_ratio")
        checks.pop("reblur_structure")
    return {"slice": sl.name, "mtf_source": info["source"], "f50_per_mm": info["f50_per_mm"],
            **{k: c.value for k, c in checks.items()}, "holds": {k: c.holds for k, c in checks.items()}}


def available_slices() -> list[str]:
    return [n for n in REAL_SLICES if real_slice_path(n) is not None]


def evaluate(models: dict[str, Path | None]) -> dict[str, list[dict]]:
    """``{model name: [per-slice result]}``; a ``None`` path stands for the input itself."""
    from operators.harmonize import load_model

    slices = [read_real_slice(n) for n in available_slices()]
    out = {}
    for name, path in models.items():
        model = None if path is None else load_model(path)
        out[name] = [check_slice(model, sl) for sl in slices]
    return out


def print_table(result: dict[str, list[dict]]) -> None:
    from physics.consistency import CHECKS

    cols = list(CHECKS)
    print(f"{'model':12s} {'slice':26s} {'MTF':13s} " + " ".join(f"{c:>22s}" for c in cols))
    for model, rows in result.items():
        for r in rows:
            cells = " ".join(f"{r[c]:17.2f} {'ok' if r['holds'][c] else 'FAIL':>4s}" if c in r else f"{'-':>22s}"
                             for c in cols)
            print(f"{model:12s} {r['slice']:26s} {r['mtf_source'][:8]:8s} {r['f50_per_mm'] or float('nan'):4.2f} {cells}")
    print("limits: " + ", ".join(f"{c} <= {v:g}" for c, v in CHECKS.items()))
