"""The widened kernel space: a continuous family of kernel MTFs, vendor-like shapes and iterative strengths.

The 16 named kernels (``kernels.KERNEL_NAMES``) span f50 0.32-0.69 /mm with plain, monotone MTFs. Scanners
in use reach further on both sides (soft-tissue kernels near 0.2 /mm, bone and inner-ear kernels near
0.9 /mm) and many sharp kernels are edge-enhancing: their MTF rises above 1 at mid frequencies before it
falls. The family here is ``physics.kernel_table.model_mtf`` with

* ``f50_base`` log-uniform in ``F50_RANGE`` (0.2-0.9 /mm),
* ``shape`` the named kernels' exponent for that sharpness with a spread (``SHAPE_SD``),
* with probability ``P_BOOST`` an edge enhancement: peak gain ``1 + boost`` (``BOOST_RANGE``) at a
  fraction ``BOOST_AT`` of f50,
* with probability ``P_ITERATIVE`` an iterative reconstruction on top (``reconstruction.iterative``) at a
  strength uniform in ``STRENGTH_RANGE``: it lowers the noise more at high than at low frequencies, so
  its noise power spectrum moves to lower frequencies and its texture turns blotchy as the strength grows.

``VENDOR_LIKE`` adds named shapes in the manner of other vendors' kernel series (a soft, a standard, a lung
and a bone kernel; the lung and bone ones edge-enhancing). Their parameters are this project's choice, set
to the shapes such kernels are known for; they are not vendor data, and the names say "-like".
"""
from __future__ import annotations

import numpy as np

from physics.kernel_table import shape_for_f50

from .kernels import KERNEL_NAMES, Kernel, get_kernel

F50_RANGE = (0.2, 0.9)
SHAPE_SD = 0.25
P_BOOST = 0.35
BOOST_RANGE = (0.05, 0.35)
BOOST_AT = (0.35, 0.7)
P_ITERATIVE = 0.4
STRENGTH_RANGE = (1.0, 5.0)

# name: (f50_base /mm, shape, boost, boost_at as a fraction of f50_base), vendor, ConvolutionKernel
VENDOR_LIKE = {
    "GE-like SOFT": ((0.30, 2.0, 0.0, 0.0), "GE-like", "SOFT"),
    "GE-like STANDARD": ((0.38, 2.1, 0.0, 0.0), "GE-like", "STANDARD"),
    "GE-like LUNG": ((0.60, 2.4, 0.25, 0.55), "GE-like", "LUNG"),
    "GE-like BONE": ((0.55, 2.3, 0.35, 0.55), "GE-like", "BONE"),
    "Philips-like B": ((0.37, 2.0, 0.0, 0.0), "Philips-like", "B"),
    "Philips-like C": ((0.45, 2.2, 0.0, 0.0), "Philips-like", "C"),
    "Philips-like L": ((0.62, 2.5, 0.20, 0.6), "Philips-like", "L"),
    "Canon-like FC07": ((0.33, 2.0, 0.0, 0.0), "Canon-like", "FC07"),
    "Canon-like FC13": ((0.40, 2.1, 0.0, 0.0), "Canon-like", "FC13"),
    "Canon-like FC52": ((0.68, 2.6, 0.20, 0.6), "Canon-like", "FC52"),
}


def vendor_like(name: str, strength: float = 0.0) -> Kernel:
    """A ``VENDOR_LIKE`` kernel by name, optionally with an iterative strength."""
    if name not in VENDOR_LIKE:
        raise ValueError(f"unknown vendor-like kernel {name!r}; choose one of: {', '.join(VENDOR_LIKE)}")
    (f50, shape, boost, at), vendor, dicom = VENDOR_LIKE[name]
    label = name if not strength else f"{name} ({strength:.1f})"
    return Kernel(label, f50, shape, float(strength), boost, round(at * f50, 4), (dicom,), vendor)


def family_kernel(f50_base: float, shape: float | None = None, boost: float = 0.0, boost_at: float = 0.5,
                  strength: float = 0.0) -> Kernel:
    """A member of the continuous family; ``boost_at`` as a fraction of ``f50_base``.

    Its ConvolutionKernel is ``Wnn`` (``e`` appended when edge-enhancing), ``nn`` = 100 x f50_base, the
    sharpness-index convention of the named kernels; ``\\s`` follows for an iterative strength ``s``."""
    shape = shape_for_f50(f50_base) if shape is None else float(shape)
    index = int(round(100 * f50_base))
    code = f"W{index:02d}{'e' if boost else ''}"
    label = f"{code} p{shape:.2f}" + (f" b{boost:.2f}@{boost_at:.2f}" if boost else "") + \
        (f" ({strength:.1f})" if strength else "")
    dicom = (code, f"{strength:.0f}") if strength else (code,)
    return Kernel(label, float(f50_base), shape, float(strength), float(boost), round(boost_at * f50_base, 4), dicom,
                  "family")


def draw_kernel(rng: np.random.Generator) -> Kernel:
    """One kernel of the widened space: a family member (70 %), a vendor-like shape (15 %) or one of the
    named kernels (15 %), each with an iterative strength drawn as above."""
    strength = float(rng.uniform(*STRENGTH_RANGE)) if rng.random() < P_ITERATIVE else 0.0
    u = rng.random()
    if u < 0.15:
        return vendor_like(list(VENDOR_LIKE)[int(rng.integers(len(VENDOR_LIKE)))], round(strength, 1))
    if u < 0.30:
        k = get_kernel([n for n in KERNEL_NAMES if "(" not in n][int(rng.integers(10))])
        if not strength:
            return k
        return Kernel(f"{k.name} ({strength:.1f})", k.f50_base, k.shape, round(strength, 1),
                      dicom=(k.dicom[0], f"{strength:.0f}"))
    lo, hi = np.log(F50_RANGE[0]), np.log(F50_RANGE[1])
    f50 = float(np.exp(rng.uniform(lo, hi)))
    shape = float(np.clip(shape_for_f50(f50) + SHAPE_SD * rng.standard_normal(), 1.5, 3.5))
    boost, at = (float(rng.uniform(*BOOST_RANGE)), float(rng.uniform(*BOOST_AT))) if rng.random() < P_BOOST else (0.0, 0.5)
    if boost:   # an enhancement raises f50 by up to ~10 %: keep the result inside the range
        f50 = min(f50, 0.8 * F50_RANGE[1])
    return family_kernel(round(f50, 3), round(shape, 2), round(boost, 3), round(at, 3), round(strength, 1))
