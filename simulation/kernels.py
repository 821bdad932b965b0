"""The 16 reconstruction kernels of the paper, modelled by their modulation transfer function (MTF).

Naming. Siemens' current kernel names (syngo CT VB10 and later: Force, Drive, Edge) are a family
(``Br`` body regular, ``Qr`` quantitative), a two-digit sharpness index and a suffix; the index is the
spatial frequency at which the kernel's MTF falls to 50 % (rho50), in tenths of a line pair per cm, e.g.
Br40 has rho50 = 4.0 lp/cm = 0.40 /mm (Siemens Healthineers, "syngo CT: the new kernel names", reference
manual of syngo CT VB10; the same convention is used in the vendor's photon-counting papers, e.g. Rajendran
et al., Radiology 2022, for Br/Qr kernels). Here ``nominal f50 = index / 100`` cycles/mm. "(3)" marks
iterative reconstruction at strength 3 (ADMIRE 3 on the Force); it keeps the kernel's resolution.

Shape. Published kernel MTFs are smooth, monotone curves whose f10/f50 ratio shrinks from about 1.8 for
soft kernels to about 1.5 for sharp ones (e.g. the Force MTFs in Solomon et al., Med Phys 2015, and in the
AAPM lung-screening protocol reports). The model curve is ``MTF(f) = exp(-ln2 * (f / f50) ** p)`` with
``p`` going linearly from 2 (index 32, f10/f50 = 1.82) to 3 (index 69, f10/f50 = 1.49); so ``f10`` is a
property of this model, while ``f50`` is the published value.

The filter that a kernel puts into filtered back-projection is this target divided by the MTF that the
acquisition already has (focal spot, detector aperture, phantom rasterisation and the two linear
interpolations, see ``system_mtf``), so that the measured MTF of the whole chain is the target.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from physics.esf import MTFCurve
from physics.kernel_table import model_mtf, shape_for_f50

from .geometry import FORCE, ScannerGeometry

KERNEL_NAMES = (
    "Br32f", "Br32f(3)", "Br40f", "Br40f(3)", "Br49f", "Br49f(3)", "Br59f", "Br59f(3)",
    "Br62f", "Br64f", "Br69f", "Br69f(3)", "Qr32f", "Qr49f", "Qr59f", "Qr61f",
)
_NAME = re.compile(r"^(Br|Qr)(\d\d)([a-z]?)(?:\((\d)\))?$")
MAX_GAIN = 4.0


@dataclass(frozen=True)
class Kernel:
    """A reconstruction kernel: the MTF the whole chain is made to reach, and an iterative strength.

    ``f50_base``/``shape``/``boost``/``boost_at`` are ``physics.kernel_table.model_mtf``'s parameters; ``strength`` is the strength of
    the iterative reconstruction on top of FBP (0: plain FBP; 3: like ADMIRE 3; any real value works);
    ``dicom`` the ConvolutionKernel values a scanner writes for it."""
    name: str
    f50_base: float
    shape: float
    strength: float = 0.0
    boost: float = 0.0
    boost_at: float = 0.0
    dicom: tuple[str, ...] = ()
    vendor: str = "Siemens"

    def mtf(self, f_per_mm) -> np.ndarray:
        return model_mtf(f_per_mm, self.f50_base, self.shape, self.boost, self.boost_at)

    def _crossing(self, level: float) -> float:
        f = np.linspace(0.0, 3.0, 30001)
        return MTFCurve(f, self.mtf(f)).crossing(level)

    @property
    def f50(self) -> float:
        """50 % frequency of the target MTF (cycles/mm): the nominal one for a plain curve."""
        return self.f50_base if not self.boost else self._crossing(0.5)

    @property
    def f10(self) -> float:
        """10 % frequency of the target MTF (cycles/mm)."""
        return self._crossing(0.1)

    @property
    def peak(self) -> float:
        """Largest value of the target MTF: above 1 for an edge-enhancing kernel."""
        return float(self.mtf(np.linspace(0.0, 3.0, 3001)).max())

    @property
    def iterative(self) -> bool:
        return self.strength > 0

    @property
    def dicom_kernel(self) -> list[str]:
        """ConvolutionKernel as the scanner writes it, e.g. ``Br40f`` or ``Br40f\\3`` for strength 3."""
        return list(self.dicom) if self.dicom else [self.name]

    def to_json(self) -> dict:
        """The kernel's parameters, as a dataset manifest records them."""
        return {"name": self.name, "vendor": self.vendor, "f50_per_mm": round(self.f50, 5),
                "f10_per_mm": round(self.f10, 5), "peak": round(self.peak, 4), "f50_base_per_mm": self.f50_base,
                "shape": self.shape, "boost": self.boost, "boost_at_per_mm": self.boost_at,
                "iterative_strength": self.strength, "dicom_kernel": self.dicom_kernel}

    @classmethod
    def from_json(cls, d: dict) -> Kernel:
        return cls(d["name"], d["f50_base_per_mm"], d["shape"], d["iterative_strength"], d["boost"],
                   d["boost_at_per_mm"], tuple(d["dicom_kernel"]), d["vendor"])


def get_kernel(name: str) -> Kernel:
    """Kernel by name (one of ``KERNEL_NAMES``); ``ValueError`` with the list otherwise."""
    m = _NAME.match(name.strip())
    if name.strip() not in KERNEL_NAMES or m is None:
        raise ValueError(f"unknown kernel {name!r}; choose one of: {', '.join(KERNEL_NAMES)}")
    index, strength = int(m.group(2)), int(m.group(4) or 0)
    base = f"{m.group(1)}{m.group(2)}{m.group(3)}"
    return Kernel(name.strip(), index / 100.0, shape_for_f50(index / 100.0), float(strength),
                  dicom=(base, str(strength)) if strength else (base,))


def all_kernels() -> list[Kernel]:
    return [get_kernel(n) for n in KERNEL_NAMES]


def detector_taps(geom: ScannerGeometry = FORCE) -> np.ndarray:
    """Discrete blur across rays: detector aperture (box) convolved with the focal spot (box), integrated
    over each ray spacing. Applied to transmitted intensity."""
    d = geom.ray_spacing_mm
    x = np.linspace(-3 * d, 3 * d, 6001)
    a, b = geom.aperture_mm, geom.focal_spot_mm
    # trapezoid = box(a) * box(b)
    lo, hi = abs(a - b) / 2.0, (a + b) / 2.0
    trap = np.clip((hi - np.abs(x)) / (hi - lo), 0.0, 1.0)
    centres = np.arange(-3, 4) * d
    taps = np.array([trap[(x >= c - d / 2) & (x < c + d / 2)].sum() for c in centres])
    taps = 0.5 * (taps + taps[::-1])
    taps = taps[taps > 1e-6]
    return taps / taps.sum()


def system_mtf(f_per_mm, geom: ScannerGeometry = FORCE) -> np.ndarray:
    """MTF the acquisition and back-projection already impose, before any kernel apodisation.

    Product of the phantom's rasterisation and the detector/focal-spot taps. A phantom pixel holds the
    mean over its area (a box filter, sampled) and is then projected as a uniform square (a second box),
    hence sinc^2 of one object pixel; the Fourier projector and back-projector add no interpolation blur
    (see ``projector``)."""
    f = np.abs(np.asarray(f_per_mm, dtype=np.float64))
    dp, dt = geom.object_pixel_mm, geom.ray_spacing_mm
    taps = detector_taps(geom)
    k = np.arange(len(taps)) - (len(taps) - 1) / 2.0
    h_taps = np.abs(np.sum(taps[None, :] * np.cos(2 * np.pi * f[..., None] * k[None, :] * dt), axis=-1))
    return np.sinc(f * dp) ** 2 * h_taps


def apodisation(kernel: Kernel, f_per_mm, geom: ScannerGeometry = FORCE) -> np.ndarray:
    """Filter multiplying the ramp in FBP so that the chain's MTF is the kernel's target MTF."""
    f = np.abs(np.asarray(f_per_mm, dtype=np.float64))
    gain = kernel.mtf(f) / np.maximum(system_mtf(f, geom), 1e-6)
    nyq = 0.5 / geom.ray_spacing_mm
    taper = np.where(f < 0.9 * nyq, 1.0, np.cos(np.clip((f - 0.9 * nyq) / (0.1 * nyq), 0, 1) * np.pi / 2) ** 2)
    return np.minimum(gain, MAX_GAIN) * taper
