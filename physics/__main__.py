"""``python -m physics mtf SERIES_DIR [--json]``: the patient-specific MTF of one axial CT series."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def read_series(folder: Path) -> tuple[np.ndarray, tuple[float, float]]:
    """HU volume ``(K, rows, cols)`` and (row, col) pixel spacing of the single series in ``folder``."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    ids = reader.GetGDCMSeriesIDs(str(folder))
    if not ids:
        raise ValueError(f"no DICOM series in {folder}")
    if len(ids) > 1:
        raise ValueError(f"{len(ids)} series in {folder}; point at one series folder")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), ids[0]))
    image = reader.Execute()
    sx, sy = image.GetSpacing()[:2]
    return sitk.GetArrayFromImage(image).astype(np.float32), (sy, sx)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m physics", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("mtf", help="MTF from the skin-air edge of a series")
    m.add_argument("series", type=Path)
    m.add_argument("--json", action="store_true", help="print the full result as JSON")
    args = p.parse_args(argv)
    from .mtf import estimate_mtf

    try:
        volume, spacing = read_series(args.series)
    except (ValueError, RuntimeError, OSError) as e:
        print(f"error: {str(e).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    result = estimate_mtf(volume, spacing)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        q = result.quality
        print(f"f50 {result.f50_per_mm:.3f} ± {result.f50_sd_per_mm:.3f} /mm   f10 {result.f10_per_mm:.3f} /mm   "
              f"profiles {result.profiles}   "
              f"quality {'usable' if q['usable'] else 'unusable: ' + q['reason']}")
        print("frequency /mm  MTF")
        for f, v in zip(result.frequencies_per_mm[::4], result.mtf[::4]):
            print(f"{f:12.3f}  {v:.3f}")
    return 0 if result.usable else 2


if __name__ == "__main__":
    sys.exit(main())
