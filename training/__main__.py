"""``python -m training baseline --out models/physics_baseline``: export the physics baseline harmonizer."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("baseline", help="export the physics (MTF-ratio) baseline to TorchScript with its card")
    b.add_argument("--out", type=Path, default=Path("models/physics_baseline"))
    args = p.parse_args(argv)
    if args.command == "baseline":
        from .export import export
        from .physics_baseline import PhysicsBaseline, __doc__ as doc

        card = export(PhysicsBaseline(), args.out, name="ct-harmonizer-physics-baseline", version="1.0.0",
                      description=doc.strip().split("\n\n")[0].replace("\n", " "),
                      provenance={"training": "none: a fixed physics filter, no learnt weights"})
        print(f"wrote {args.out}/model.ts sha256 {card['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
