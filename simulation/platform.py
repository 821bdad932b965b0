"""The widened virtual imaging platform: what is drawn for each phantom and for each of its renditions.

The paper's platform scans every phantom with the 16 named kernels at two doses, 1 mm slices, one body
outline model. Scanners in use vary far more; a network trained on the narrow platform is measured outside
it. Here each phantom draws (from its seed) its slice thickness and an irregular outline
(``phantom.draw_outline``: size, outline harmonics, skin folds, breasts, a gown or blanket, arms against
the body; every slice the mean of sections ``SUB_SLICE_MM`` apart over its thickness), and each
rendition a kernel of the widened space (``kernel_family.draw_kernel``: f50 0.2-0.9
/mm, edge-enhancing shapes, vendor-like shapes, iterative strengths) and a dose log-uniform over
``DOSE_RANGE``. Every draw is recorded in the dataset's manifest and in each phantom's ``renditions.json``.

Each phantom also draws its reconstruction field of view (``FOV_RANGE``, on the 512 matrix: pixels of
0.49-0.98 mm; one in five a targeted field of 250-320 mm that cuts the body's sides, the rest 320-500 mm),
reconstructed from the same 500 mm scan field.

Each phantom draws its tube voltage (``KVPS``): the object it is scanned through holds the CT numbers that
voltage shows (``materials.hu_at_kvp``, an effective-energy approximation without beam hardening, whose error
is stated there); its truth stays at 120 kVp, the reference the network restores.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from .geometry import FORCE, ScannerGeometry
from .kernel_family import draw_kernel
from .kernels import Kernel
from .phantom import KINDS, Outline, draw_outline

DOSE_RANGE = (0.5, 20.0)                 # CTDIvol, mGy
SUB_SLICE_MM = 0.5                       # every slice the mean of sections this far apart
THICKNESSES = (0.6, 1.0, 1.0, 1.5, 2.0, 3.0, 5.0)   # mm; 1 mm twice as likely
FOV_RANGE = (250.0, 500.0)               # reconstruction field, mm
TARGETED_FOV_MM = 320.0                  # below it the field cuts the body's sides
TARGETED_SHARE = 0.2
KVPS = (80.0, 100.0, 120.0, 120.0, 140.0)   # 120 kVp twice as likely


@dataclass(frozen=True)
class PhantomDraw:
    """One phantom of the widened platform and its renditions (dose, kernel)."""
    seed: int
    kind: str
    slice_thickness_mm: float
    outline: Outline
    renditions: tuple[tuple[float, Kernel], ...]
    recon_fov_mm: float | None = None
    kvp: float = 120.0

    @property
    def geometry(self) -> ScannerGeometry:
        return replace(FORCE, slice_thickness_mm=self.slice_thickness_mm, recon_fov_mm=self.recon_fov_mm,
                       kvp=self.kvp)

    def to_json(self) -> dict:
        return {"seed": self.seed, "kind": self.kind, "slice_thickness_mm": self.slice_thickness_mm,
                "recon_fov_mm": self.recon_fov_mm, "pixel_mm": self.geometry.pixel_mm, "kvp": self.kvp,
                "outline": asdict(self.outline),
                "renditions": [rendition_json(d, k) for d, k in self.renditions]}


def rendition_json(dose_mgy: float, kernel: Kernel) -> dict:
    """A rendition as ``renditions.json`` lists it: kernel name, dose and f50 first, then every parameter."""
    return {"kernel": kernel.name, "dose_mgy": dose_mgy, "f50_per_mm": round(kernel.f50, 5),
            "dicom_kernel": kernel.dicom_kernel, "kernel_params": kernel.to_json()}


def draw_dose(rng: np.random.Generator) -> float:
    return float(round(np.exp(rng.uniform(*np.log(DOSE_RANGE))), 2))


def draw_fov(rng: np.random.Generator) -> float:
    if rng.uniform() < TARGETED_SHARE:
        return float(round(rng.uniform(FOV_RANGE[0], TARGETED_FOV_MM)))
    return float(round(rng.uniform(TARGETED_FOV_MM, FOV_RANGE[1])))


def draw_phantom(seed: int, n_renditions: int, kind: str | None = None, fov: bool = True,
                 kvp: bool = True) -> PhantomDraw:
    """The widened platform's draws for phantom ``seed`` (its own generator: the phantom's anatomy is still
    drawn from ``seed`` by ``make_phantom``). The field of view and then the tube voltage are drawn last, so
    that the other draws are those of the same seed without them (``fov=False``: the whole 500 mm field;
    ``kvp=False``: 120 kVp)."""
    rng = np.random.default_rng([seed, 7, 2])
    kind = KINDS[int(rng.integers(0, 2))] if kind is None else kind
    thickness = float(THICKNESSES[int(rng.integers(len(THICKNESSES)))])
    outline = draw_outline(rng)
    renditions = tuple((draw_dose(rng), draw_kernel(rng)) for _ in range(n_renditions))
    recon_fov = draw_fov(rng) if fov else None
    voltage = float(KVPS[int(rng.integers(len(KVPS)))]) if kvp else 120.0
    return PhantomDraw(seed, kind, thickness, outline, renditions, recon_fov, voltage)
