"""How well the skin-air MTF estimate reads each rendition's kernel: f50 error against the kernel's own MTF.

The reference for a kernel is its MTF measured on a noise-free edge through the same simulated chain: a
20 cm water disc in air scanned without noise and reconstructed with the kernel (at the rendition's
slice thickness), its radial ESF turned into an MTF (``physics.esf``). For the external set it is
measured through XCIST when the set is made: on discs whose edge lies where each phantom's skin does
(``external_set.kernel_f50_by_radius``), or with ``own_edge`` on the phantom's own skin, a slice scanned
without noise against the object (``external_set.own_edge_f50s``), which holds the edges' directions too.
The estimate is
``physics.mtf.estimate_mtf`` on the rendition itself: the noisy slab of the phantom, irregular outline and all.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from physics.esf import binned_esf, mtf_from_esf
from physics.mtf import estimate_mtf

DISC_RADIUS_MM, DISC_CENTRE_MM = 100.0, (3.3, -7.1)


@dataclass
class MTFError:
    phantom: str
    kernel: str
    dose_mgy: float
    reference_f50: float
    estimated_f50: float
    profiles: int
    reason: str | None
    estimated_sd: float = float("nan")   # the estimate's own f50 standard deviation from the noise

    @property
    def z(self) -> float:
        """The f50 error in the estimate's own standard deviations."""
        if not self.estimated_sd > 0:
            return float("nan")
        return (self.estimated_f50 - self.reference_f50) / self.estimated_sd

    @property
    def error(self) -> float:
        """Relative f50 error (NaN when the edge was unusable)."""
        return self.estimated_f50 / self.reference_f50 - 1.0


def disc_distance_mm(size: int, geom=None, centre_mm=DISC_CENTRE_MM, radius_mm: float = DISC_RADIUS_MM) -> np.ndarray:
    """Each pixel's signed distance (mm, + outwards) to the edge of the disc ``simulation.phantom.disc_object``
    on a ``size`` x ``size`` image: ``geom``'s reconstructed grid, or its object grid."""
    from simulation.geometry import FORCE

    geom = geom or FORCE
    x = geom.recon_centres_mm() if size == geom.image_size else geom.pixel_centres_mm(size)
    xx, yy = np.meshgrid(x, x)
    return np.hypot(xx - centre_mm[0], yy - centre_mm[1]) - radius_mm


def disc_edge_f50(img: np.ndarray, geom=None, centre_mm=DISC_CENTRE_MM, radius_mm: float = DISC_RADIUS_MM) -> float:
    """f50 (cycles/mm) of a reconstructed water disc (``simulation.phantom.disc_object``) from its radial ESF
    (both halves: water and air are uniform), on ``geom``'s image grid."""
    d = disc_distance_mm(img.shape[-1], geom, centre_mm, radius_mm)
    near = np.abs(d) < 12
    return float(mtf_from_esf(*binned_esf(d[near], img[near])).f50)


@lru_cache(maxsize=256)
def _reference_f50(kernel_json: str, thickness_mm: float) -> float:
    from simulation.geometry import FORCE
    from simulation.kernels import Kernel
    from simulation.phantom import disc_object
    from simulation.scanner import scan_slice

    geom = replace(FORCE, slice_thickness_mm=thickness_mm)
    kernel = Kernel.from_json(json.loads(kernel_json))
    img = scan_slice(disc_object(DISC_RADIUS_MM, DISC_CENTRE_MM, 0.0, geom=geom), [None], [kernel], 0, 0,
                     geom)[(None, kernel.name)]
    return disc_edge_f50(img, geom)


def reference_f50(kernel_params: dict, thickness_mm: float = 1.0) -> float:
    """f50 (cycles/mm) of a kernel (its ``Kernel.to_json``) measured on a noise-free water-disc edge."""
    return _reference_f50(json.dumps(kernel_params, sort_keys=True), float(thickness_mm))


def dataset_errors(root: Path, split: str | None = None, own_edge: bool = False) -> list[MTFError]:
    """Every rendition of every finished phantom (of ``split``, or all) of a simulator dataset; ``own_edge``:
    against an external set's kernels at each phantom's own edge (``external_set.own_edge_f50s``)."""
    root = Path(root)
    manifest = json.loads((root / "manifest.json").read_text())
    from training.data import phantom_pixel_mm

    out = []
    for p in manifest["phantoms"]:
        folder = root / p["folder"]
        pixel = phantom_pixel_mm(manifest, p)
        if (split and p["split"] != split) or not (folder / "DONE").exists():
            continue
        vols = np.load(folder / "renditions.npy", mmap_mode="r")
        meta = json.loads((folder / "renditions.json").read_text())
        thickness = json.loads((folder / "params.json").read_text()).get("slice_thickness_mm", 1.0)
        for vol, m in zip(vols, meta):
            est = estimate_mtf(np.asarray(vol, np.float32), (pixel, pixel))
            out.append(MTFError(p["folder"], m["kernel"], m["dose_mgy"], _reference(manifest, p, m, thickness, own_edge),
                                est.f50_per_mm, est.profiles, est.quality["reason"], est.f50_sd_per_mm))
    return out


def _reference(manifest: dict, phantom: dict, rendition: dict, thickness_mm: float, own_edge: bool = False) -> float:
    """A rendition's reference f50: another simulator's set holds its own (``external_set``: the discs' at the
    phantom's skin where the set says, or at its own edge when asked, else the kernel's nominal one); this
    simulator's is measured here from the kernel's parameters or name."""
    if own_edge:
        if "own_edge_f50_per_mm" not in phantom:
            raise ValueError(f"{phantom['folder']} has no f50 at its own edge: rerun its external-set command")
        return float(phantom["own_edge_f50_per_mm"][rendition["kernel"]])
    if "reference_f50_per_mm" in phantom:
        return float(phantom["reference_f50_per_mm"][rendition["kernel"]])
    if "kernel_f50_per_mm" in manifest:
        return float(manifest["kernel_f50_per_mm"][rendition["kernel"]])
    params = rendition.get("kernel_params")
    if params is None:
        from simulation.kernels import get_kernel
        params = get_kernel(rendition["kernel"]).to_json()
    return reference_f50(params, thickness_mm)


def summary(errors: list[MTFError], sure_percent: float = 3.0) -> dict:
    """Median, worst and mean f50 error over the usable renditions; the worst again over those whose own
    stated standard deviation is at most ``sure_percent`` of f50, and how many erred by more than three of it."""
    read = [x for x in errors if np.isfinite(x.error)]
    e = np.array([abs(x.error) for x in read])
    sure = np.array([abs(x.error) for x in read if x.estimated_sd <= sure_percent / 100 * x.estimated_f50])
    return {"renditions": len(errors), "usable": int(len(e)),
            "median_abs_f50_error_percent": float(100 * np.median(e)) if len(e) else None,
            "worst_abs_f50_error_percent": float(100 * e.max()) if len(e) else None,
            "mean_f50_error_percent": float(100 * np.mean([x.error for x in read])) if len(e) else None,
            "median_stated_sd_percent": float(100 * np.median([x.estimated_sd / x.estimated_f50 for x in read]))
            if len(e) else None,
            f"stated_sd_at_most_{sure_percent:g}_percent": int(len(sure)),
            f"worst_abs_f50_error_percent_where_sd_at_most_{sure_percent:g}_percent":
                float(100 * sure.max()) if len(sure) else None,
            "beyond_3_stated_sd": int(sum(abs(x.z) > 3 for x in read))}
