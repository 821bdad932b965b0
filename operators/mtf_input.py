"""The harmonizer's MTF input for one series: measured on the skin-air edge, else from the kernel's name,
else a documented default (``physics.kernel_table.DEFAULT_F50``); ``source`` says which."""
from __future__ import annotations

import numpy as np

from physics.kernel_table import DEFAULT_F50, kernel_f50, model_mtf
from physics.mtf import N_FREQUENCIES, estimate_mtf, mtf_2d

from .orientation import canonical_view


def skin_air_mtf(volume_hu: np.ndarray, spacing_mm, orientation=(1, 0, 0, 0, 1, 0), slice_geometry=None):
    """``physics.mtf.estimate_mtf`` of a series in the usual view (``operators.orientation``), as the network sees
    it: the edge's sampling, and so the last digits of the MTF, would otherwise depend on how the rows are
    stored. The one way the app measures an MTF, on its input and on its output. ``slice_geometry``: the
    slice thickness and spacing (``SeriesJob.slice_geometry``) for the skin's tilt along z."""
    return estimate_mtf(canonical_view(volume_hu, orientation), spacing_mm, **(slice_geometry or {}))


def mtf_input(volume_hu: np.ndarray, spacing_mm, convolution_kernel=None,
              orientation=(1, 0, 0, 0, 1, 0), slice_geometry=None) -> tuple[dict, np.ndarray]:
    """(the physics CLI's JSON keys + ``source`` + ``kernel``, the 64x64 2-D MTF): the skin-air MTF, else the
    kernel's, else the default."""
    measured = skin_air_mtf(volume_hu, spacing_mm, orientation, slice_geometry)
    out = measured.to_json()
    kernel = "\\".join(str(v) for v in convolution_kernel) if isinstance(convolution_kernel, (list, tuple)) \
        else (str(convolution_kernel) if convolution_kernel else None)
    out["kernel"] = kernel
    if measured.usable:
        out["source"] = "measured"
        return out, mtf_2d(measured.mtf)
    f50 = kernel_f50(convolution_kernel)
    out["source"] = "kernel-table" if f50 is not None else "default"
    f50 = f50 if f50 is not None else DEFAULT_F50
    f = np.linspace(0.0, 0.5 / max(spacing_mm), N_FREQUENCIES)
    curve = model_mtf(f, f50)
    f10 = round(float(np.interp(0.1, curve[::-1], f[::-1])), 5) if curve[-1] < 0.1 else None   # None: above Nyquist
    out.update({"frequencies_per_mm": [round(float(x), 5) for x in f], "mtf": [round(float(x), 5) for x in curve],
                "f50_per_mm": round(f50, 5), "f10_per_mm": f10})
    return out, mtf_2d(curve)
