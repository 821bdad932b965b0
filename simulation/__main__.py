"""``python -m simulation study|dataset``: write a simulated DICOM study, or a paired training set."""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"dose must be a positive CTDIvol in mGy, got {text}") from None
    return v


def _kernel(text: str) -> str:
    from .kernels import get_kernel

    try:
        return get_kernel(text).name
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _writable(path: Path) -> Path:
    """Create ``path`` and prove it takes a file; one clear line and exit 1 otherwise."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise SystemExit(f"error: cannot write to {path}: {e.strerror or e}") from None
    return path


def study(args) -> None:
    from .dicom_io import series_datasets, write_series
    from .kernels import get_kernel
    from .phantom import make_phantom
    from .scanner import scan_volume

    out = _writable(Path(args.out))
    ph = make_phantom(args.seed, args.slices, kind=args.kind)
    kernels = args.kernel
    vols = scan_volume(ph.object_hu, [args.dose], kernels, args.seed)
    for number, name in enumerate(kernels, start=1):
        ds = series_datasets(vols[(args.dose, name)], ph.z_mm, args.seed, get_kernel(name), args.dose, number)
        folder = write_series(ds, out / "DICOM" / f"{number:02d}_{name.replace('(', '_').replace(')', '')}")
        print(f"wrote {len(ds)} slices to {folder}")
    np.savez_compressed(out / "ground_truth.npz", hu=ph.gt_hu, body=ph.body, lung=ph.lung, nodules=ph.nodules,
                        z_mm=ph.z_mm, seed=args.seed)
    print(f"wrote {out / 'ground_truth.npz'}")


def dataset(args) -> None:
    from .dataset import make_dataset
    from .kernels import KERNEL_NAMES

    out = _writable(Path(args.out))
    kernels = tuple(args.kernel) if args.kernel else KERNEL_NAMES
    m = make_dataset(out, args.phantoms, args.slices, args.seed, kernels=kernels, kind=args.kind, split=args.split,
                     nodules_inside=args.nodules_inside, platform=args.platform, renditions=args.renditions,
                     fixed_field_and_kvp=args.fixed_field_and_kvp)
    splits = {k: sum(p["split"] == k for p in m["phantoms"]) for k in ("train", "val", "test")}
    print(f"dataset in {out}: {len(m['phantoms'])} phantoms {splits}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simulation", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("study", help="one phantom -> DICOM CT series (+ ground_truth.npz)")
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--slices", type=int, default=16)
    s.add_argument("--dose", type=_positive, default=6.5, help="CTDIvol in mGy")
    s.add_argument("--kernel", type=_kernel, action="append", help="kernel name; repeat for more series")
    s.add_argument("--kind", choices=["copd", "nodule"], default=None)
    d = sub.add_parser("dataset", help="paired training set, split by phantom, resumable")
    d.add_argument("--out", required=True)
    d.add_argument("--phantoms", type=int, required=True)
    d.add_argument("--slices", type=int, default=8)
    d.add_argument("--seed", type=int, default=1000, help="seed of the first phantom")
    d.add_argument("--kernel", type=_kernel, action="append", help="only these kernels (repeat); default all 16")
    d.add_argument("--kind", choices=["copd", "nodule"], default=None, help="default: drawn per phantom")
    d.add_argument("--split", choices=["train", "val", "test"], default=None,
                   help="put every phantom in this split (default: drawn per phantom from its seed)")
    d.add_argument("--nodules-inside", action="store_true", help="nodules drawn wholly inside the slab")
    d.add_argument("--platform", choices=["named", "wide"], default="named",
                   help="named: every kernel x dose; wide: kernels, doses, slice thickness and outlines drawn")
    d.add_argument("--renditions", type=int, default=12, help="renditions per phantom on the wide platform")
    d.add_argument("--fixed-field-and-kvp", action="store_true",
                   help="wide platform without its field-of-view and kVp draws (500 mm, 120 kVp), as sets made "
                        "before it drew them")
    return p


def main(argv=None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.command == "study":
        args.kernel = args.kernel or ["Br40f"]
        if args.slices < 1:
            p.error("--slices must be at least 1")
    try:
        (study if args.command == "study" else dataset)(args)
    except OSError as e:
        print(f"error: {e.strerror or e}: {e.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
