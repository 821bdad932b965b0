"""Time of the patient-image measurements on a 512 x 512 x 300 series on this CPU (goal: the MTF <= 1 s).

    python benchmarks/physics_speed.py [--slices 300]

The series is a 4-slice simulated chest (seed 21, Br64f, 1.3 mGy: the noisiest sharp case) stacked to the
requested length as int16 HU, the way a DICOM reader hands it over. Prints one table: skin-air MTF, global
noise SD, NPS, the body mask of one slice, the lung mask of the series and the consistency guard of the series
(its truth as the output, on the slices the app checks), each the best of three runs.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from physics.consistency import guard_slices, series_behaviour  # noqa: E402
from physics.masks import body_mask_2d, lung_mask  # noqa: E402
from physics.mtf import estimate_mtf  # noqa: E402
from physics.noise import noise_sd, nps  # noqa: E402
from simulation.geometry import FORCE  # noqa: E402
from simulation.phantom import make_phantom  # noqa: E402
from simulation.scanner import scan_volume  # noqa: E402


def best_of(fn, repeat: int = 3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=300)
    args = ap.parse_args()
    ph = make_phantom(21, 4)
    scan = scan_volume(ph.object_hu, [1.3], ["Br64f"], seed=21)[(1.3, "Br64f")]
    vol = np.resize(np.round(scan).astype(np.int16), (args.slices,) + scan.shape[1:])
    spacing = (FORCE.pixel_mm, FORCE.pixel_mm)
    rows = []
    t, r = best_of(lambda: estimate_mtf(vol, spacing))
    rows.append(("skin-air MTF (estimate_mtf)", t, f"f50 {r.f50_per_mm:.3f}/mm, {r.profiles} profiles"))
    t, sd = best_of(lambda: noise_sd(vol, spacing))
    rows.append(("global noise SD (noise_sd)", t, f"{sd:.1f} HU"))
    t, n = best_of(lambda: nps(vol, spacing))
    rows.append(("NPS (nps)", t, f"{n.rois} ROIs, f_mean {n.f_mean:.2f}/mm"))
    t, _ = best_of(lambda: body_mask_2d(vol[0].astype(np.float32), pixel_mm=spacing[0]))
    rows.append(("body mask, one slice", t, ""))
    t, lungs = best_of(lambda: lung_mask(vol, pixel_mm=spacing[0]))
    rows.append(("lung mask, whole series", t, f"{lungs.mean() * 100:.1f} % of the voxels"))
    truth = np.resize(ph.gt_hu, vol.shape)
    t, checks = best_of(lambda: series_behaviour(vol, truth, spacing, r.frequencies_per_mm, r.mtf, sd, lungs, 1.0,
                                                 n.frequencies_per_mm, n.nps_1d))
    picked = len(guard_slices(len(vol), 1.0))
    rows.append(("consistency guard, whole series", t, f"{picked} slices checked, "
                 f"{sum(c.holds for c in checks.values())}/{len(checks)} checks hold"))
    print(f"series {vol.shape[1]}x{vol.shape[2]}x{vol.shape[0]} int16, pixel {spacing[0]:.3f} mm")
    print(f"{'measurement':32s} {'seconds':>8s}  result")
    for name, t, note in rows:
        print(f"{name:32s} {t:8.3f}  {note}")


if __name__ == "__main__":
    main()
