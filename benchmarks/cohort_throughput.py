"""Cohort throughput: the cohort runner's warm workers against a loop of ``python -m app``, on one machine.

    python benchmarks/cohort_throughput.py [--phantoms 5] [--slices 32 64] [--workers 2]

The cohort: ``--phantoms`` simulated chests (their slice counts cycling through ``--slices``), each scanned at
2 doses x 2 kernels, every rendition its own single-series study (``--phantoms`` x 4 studies; simulated once
into data/bench_cohort). Three ways through it, each from nothing to the last series written:
``python -m app`` once per study; ``python -m cohort --engine serial`` (one warm worker in one process); and
``python -m cohort`` on a local Ray cluster of ``--workers`` workers. Prints one table: wall time, studies per
hour, and per study the forward pass and everything else (read, MTF, gate, guard, QA, write), with the
latter per slice and extrapolated to a 300-slice study; then the warm stages' split per slice.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DOSES = (1.3, 6.5)
KERNELS = ("Br40f", "Br64f")


def ensure_cohort(phantoms: int, slices: list[int]) -> Path:
    """data/bench_cohort/<study>/ (one series each), simulated once."""
    from simulation.dicom_io import series_datasets, write_series
    from simulation.kernels import get_kernel
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_volume

    root = ROOT / "data" / "bench_cohort"
    for p in range(phantoms):
        seed, n = 7000 + p, slices[p % len(slices)]
        names = [f"p{p}_{n}sl_{dose:g}mGy_{kernel}" for dose in DOSES for kernel in KERNELS]
        if all((root / name / ".complete").exists() for name in names):
            continue
        ph = make_phantom(seed, n)
        scans = scan_volume(ph.object_hu, list(DOSES), list(KERNELS), seed=seed)
        number = 0
        for dose in DOSES:
            for kernel in KERNELS:
                number += 1
                folder = root / f"p{p}_{n}sl_{dose:g}mGy_{kernel}"
                shutil.rmtree(folder, ignore_errors=True)
                write_series(series_datasets(scans[(dose, kernel)], ph.z_mm, seed, get_kernel(kernel), dose, number),
                             folder / "series")
                (folder / ".complete").touch()
    return root


def _run(cmd: list[str]) -> float:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t = time.perf_counter()
    proc = subprocess.run(["bash", "-c", 'ulimit -s 32768; exec "$@"', "run", *cmd], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    if proc.returncode not in (0, 4):
        sys.exit(f"{' '.join(cmd[:3])} failed: {(proc.stderr.strip().splitlines() or [''])[-1]}")
    return time.perf_counter() - t


def app_loop(studies: list[Path], out: Path) -> tuple[float, list[dict]]:
    """``python -m app`` per study; per study its own stage times (read from its log)."""
    import re

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    wall, per = 0.0, []
    for study in studies:
        t = time.perf_counter()
        proc = subprocess.run(["bash", "-c", 'ulimit -s 32768; exec "$@"', "run", sys.executable, "-m", "app",
                               "-i", str(study), "-o", str(out / study.name), "-l", "INFO"], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        if proc.returncode not in (0, 4):
            sys.exit(f"app failed on {study}: {(proc.stderr.strip().splitlines() or [''])[-1]}")
        seconds = time.perf_counter() - t
        wall += seconds
        stages = {m.group(1): float(m.group(2)) for m in re.finditer(r"timing (\S+) ([0-9.]+)", proc.stderr)}
        per.append({"total": seconds, "harmonizer": stages.get("harmonizer", 0.0)})
    return wall, per


def cohort_run(root: Path, out: Path, engine: str, workers: int) -> tuple[float, list[dict]]:
    wall = _run([sys.executable, "-m", "cohort", "-i", str(root), "-o", str(out), "--engine", engine,
                 "--workers", str(workers)])
    records = [json.loads(p.read_text()) for p in sorted((out / "records").glob("*.json"))]
    return wall, [r["seconds"] for r in records]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--phantoms", type=int, default=5)
    p.add_argument("--slices", type=int, nargs="+", default=[32, 64])
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    root = ensure_cohort(args.phantoms, args.slices)
    studies = sorted(d for d in root.iterdir() if d.is_dir())
    slices = {s.name: sum(1 for _ in (s / "series").glob("*.dcm")) for s in studies}
    work = Path(tempfile.mkdtemp(prefix="bench-cohort-"))
    try:
        rows = []
        results = {"python -m app per study": app_loop(studies, work / "loop"),
                   "cohort, 1 warm worker (serial)": cohort_run(root, work / "serial", "serial", 1),
                   f"cohort on Ray, {args.workers} workers": cohort_run(root, work / "ray", "ray", args.workers)}
        mean_slices = sum(slices.values()) / len(slices)
        for name, (wall, per) in results.items():
            other = [s["total"] - s.get("harmonizer", 0.0) for s in per]
            forward = [s.get("harmonizer", 0.0) for s in per]
            per_slice = sum(other) / sum(slices.values())
            rows.append((name, f"{wall:.0f}", f"{3600 * len(studies) / wall:.0f}",
                         f"{sum(forward) / len(per):.1f}", f"{sum(other) / len(per):.1f}",
                         f"{1000 * per_slice:.0f}", f"{300 * per_slice:.0f}"))
        print(f"\n{len(studies)} studies, {mean_slices:.0f} slices on average ({min(slices.values())}-"
              f"{max(slices.values())}), {os.cpu_count()} CPUs\n")
        head = ("run", "wall s", "studies/h", "forward s/study", "other s/study", "other ms/slice",
                "other s at 300 slices")
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        warm = results["cohort, 1 warm worker (serial)"][1][1:]       # the first study pays the start
        stages = [k for k in warm[0] if k not in ("total", "worker_total")]
        n = sum(slices[s] for s in sorted(slices)[1:])
        print("\nwarm worker, per slice (ms): " + ", ".join(
            f"{k} {1000 * sum(w.get(k, 0.0) for w in warm) / n:.0f}" for k in stages))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
