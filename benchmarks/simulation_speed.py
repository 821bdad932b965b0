"""Seconds per rendered slice and paired renditions per hour of the virtual imaging platform on this CPU.

    python benchmarks/simulation_speed.py [--slices 4]

Prints one table: phantom rasterisation, projection, one rendition (noise + FBP), one iterative rendition,
all 32 renditions of a slice (2 doses x 16 kernels), and the resulting pairs (rendition + GT) per hour.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from simulation.acquisition import acquire  # noqa: E402
from simulation.dataset import DOSES  # noqa: E402
from simulation.kernels import KERNEL_NAMES, get_kernel  # noqa: E402
from simulation.materials import hu_to_mu  # noqa: E402
from simulation.phantom import make_phantom  # noqa: E402
from simulation.projector import forward_project  # noqa: E402
from simulation.reconstruction import fbp, iterative, kernel_filters  # noqa: E402
from simulation.scanner import scan_slice  # noqa: E402


def timed(fn, repeat: int):
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return (time.perf_counter() - t) / repeat, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=4)
    args = ap.parse_args()
    t_ph, ph = timed(lambda: make_phantom(3, args.slices, kind="copd"), 1)
    obj = ph.object_hu[0]
    t_fp, lines = timed(lambda: forward_project(hu_to_mu(obj.astype(np.float64))[None]), 3)
    rng = np.random.default_rng(0)
    k40, k40i = get_kernel("Br40f"), get_kernel("Br40f(3)")
    t_fbp, img = timed(lambda: fbp(acquire(lines, 1.3, rng), kernel_filters([k40])), 3)
    t_ir, _ = timed(lambda: iterative(img, [k40i]), 3)
    t_all, _ = timed(lambda: scan_slice(obj, list(DOSES), list(KERNEL_NAMES), 0, 0), 1)
    per_slice = t_ph / args.slices + t_all
    rows = [
        ("phantom rasterisation, per slice", t_ph / args.slices),
        ("forward projection (1024^2 object, 576 x 1024 rays)", t_fp),
        ("one FBP rendition (noise + filter + back-projection)", t_fbp),
        ("iterative step on top of FBP (30 iterations)", t_ir),
        ("all 32 renditions of one slice", t_all),
        ("one slice, phantom + 32 renditions", per_slice),
    ]
    print(f"CPU threads: {os.cpu_count()}  (torch/FINUFFT use all of them)")
    print(f"{'stage':58s} {'seconds':>9s}")
    for name, sec in rows:
        print(f"{name:58s} {sec:9.3f}")
    print(f"{'paired renditions per hour (32 per slice)':58s} {3600 * 32 / per_slice:9.0f}")


if __name__ == "__main__":
    main()
