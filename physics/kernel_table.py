"""MTFs of reconstruction kernels known by name: the fallback when the skin-air edge cannot be measured.

Siemens names (``Br40f``, ``Qr59f``, ``Bl57d``, ``B30f``, with or without an iterative strength ``\\3``) carry
a sharpness index; this project models such a kernel's MTF as exp(-ln 2 (f / f50)^p) with f50 = index / 100
cycles/mm and p from 2 (index 32) to 3 (index 69), the model the simulator's kernels were built to and
measured against. Real scanners deviate from it by some per cent; other vendors' names are not guessed.
"""
from __future__ import annotations

import re

import numpy as np

_SIEMENS = re.compile(r"^[A-Z][a-z]?(\d\d)[a-z]?$")
DEFAULT_F50 = 0.40     # a medium body kernel, when nothing better is known


def kernel_f50(convolution_kernel) -> float | None:
    """f50 (cycles/mm) of a DICOM ConvolutionKernel value (string or multi-value), or None if unknown."""
    values = [convolution_kernel] if isinstance(convolution_kernel, str) else list(convolution_kernel or [])
    for v in values:
        m = _SIEMENS.match(str(v).strip())
        if m:
            return int(m.group(1)) / 100.0
    return None


def shape_for_f50(f50: float) -> float:
    """The model's shape exponent for a sharpness: 2 at f50 0.32/mm to 3 at 0.69/mm, linear, clipped to 1.5-3.5."""
    return float(np.clip(2.0 + (100.0 * f50 - 32.0) / 37.0, 1.5, 3.5))


def model_mtf(f_per_mm, f50: float, shape: float | None = None, boost: float = 0.0,
              boost_at: float = 0.0) -> np.ndarray:
    """``exp(-ln 2 (f / f50)^p) * (1 + boost * b(f))``, p = ``shape_for_f50(f50)`` unless given.

    ``b(f) = (f / boost_at)^2 exp(1 - (f / boost_at)^2)`` peaks at 1 at ``boost_at``: with ``boost > 0`` the
    curve is that of an edge-enhancing kernel, which rises above 1 at mid frequencies (lung and bone kernels);
    with ``boost = 0`` (every kernel known by name) ``f50`` is its 50 % frequency."""
    p = shape_for_f50(f50) if shape is None else shape
    f = np.abs(np.asarray(f_per_mm, dtype=np.float64))
    curve = np.exp(-np.log(2.0) * (f / f50) ** p)
    if boost:
        u = (f / boost_at) ** 2
        curve = curve * (1.0 + boost * u * np.exp(1.0 - u))
    return curve
