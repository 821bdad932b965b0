"""Helpers of the app tests: a small simulated study, variants of it, and running the real CLI."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom

ROOT = Path(__file__).resolve().parents[1]


def make_study(folder: Path, seed: int = 31, slices: int = 4, renditions=((1.3, "Br64f"), (6.5, "Br40f"))) -> Path:
    """A simulated chest study: one series per rendition, written with the simulator's DICOM writer."""
    from simulation.dicom_io import series_datasets, write_series
    from simulation.kernels import get_kernel
    from simulation.phantom import make_phantom
    from simulation.scanner import scan_volume

    ph = make_phantom(seed, slices)
    doses = sorted({d for d, _ in renditions})
    kernels = sorted({k for _, k in renditions})
    scans = scan_volume(ph.object_hu, doses, kernels, seed=seed)
    for number, (dose, kernel) in enumerate(renditions, start=1):
        ds = series_datasets(scans[(dose, kernel)], ph.z_mm, seed, get_kernel(kernel), dose, number)
        write_series(ds, folder / f"series_{number}")
    return folder


RESULT_FILES = ("SEG.dcm", "SR.dcm", "SC.dcm")     # beside a derived series' CT slices


def read_folder(folder: Path) -> list:
    """The CT images under ``folder`` (not a derived series' SEG, SR and SC)."""
    return [pydicom.dcmread(p) for p in sorted(Path(folder).rglob("*.dcm")) if p.name not in RESULT_FILES]


def write_datasets(datasets, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, ds in enumerate(datasets):
        ds.save_as(folder / f"IM{i:04d}.dcm", enforce_file_format=True)
    return folder


def tree_digest(folder: Path) -> str:
    """Hash of every path, mode and byte under ``folder`` (without following symlinks)."""
    h = hashlib.sha256()
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            p = Path(root) / name
            st = os.lstat(p)
            h.update(f"{p.relative_to(folder)}|{st.st_mode}|{st.st_size}".encode())
            if p.is_file() and not p.is_symlink():
                h.update(p.read_bytes())
    return h.hexdigest()


def run_app(input_dir: Path, output_dir: Path, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = ["bash", "-c", 'ulimit -s 32768 2>/dev/null; exec "$@"', "run",
           sys.executable, "-m", "app", "-i", str(input_dir), "-o", str(output_dir), *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def dciodvfy_errors(path: Path) -> list[str]:
    out = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return [line for line in (out.stdout + out.stderr).splitlines() if line.startswith("Error")]


def hu(ds) -> np.ndarray:
    return ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
