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


def model_mtf(f_per_mm, f50: float) -> np.ndarray:
    """exp(-ln 2 (f / f50)^p), p = 2 + (100 f50 - 32) / 37 clipped to [1.5, 3.5]."""
    p = float(np.clip(2.0 + (100 * f50 - 32) / 37.0, 1.5, 3.5))
    return np.exp(-np.log(2.0) * (np.abs(np.asarray(f_per_mm, dtype=np.float64)) / f50) ** p)
