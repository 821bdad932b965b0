"""Paired training data: every rendition (2 doses x 16 kernels) of N phantoms, with GT and labels.

``--platform wide`` draws instead, per phantom, its slice thickness and an irregular outline, and per
rendition a kernel of the widened space and a dose (``platform``); the manifest records every draw.

Layout (one folder per phantom, read by memory-mapping; nothing is decoded at training time)::

    DIR/manifest.json                 geometry, kernels, doses, seeds, split by phantom
    DIR/phantom_0003/gt.npy           (K, 512, 512) int16 HU
    DIR/phantom_0003/renditions.npy   (R, K, 512, 512) int16 HU, R = len(doses) * len(kernels)
    DIR/phantom_0003/renditions.json  [{"kernel", "dose_mgy", "f50_per_mm"}, ...] in that order
    DIR/phantom_0003/labels.npz       body, lung, nodules (K, 512, 512) uint8
    DIR/phantom_0003/params.json      phantom parameters
    DIR/phantom_0003/DONE             written last: a phantom without it is redone on resume

The split is by phantom (never by slice): each phantom's seed decides train/val/test, so adding phantoms
never moves an existing one to another split.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .geometry import FORCE
from .kernels import KERNEL_NAMES, get_kernel
from .materials import hu_at_kvp
from .phantom import make_phantom
from .platform import SUB_SLICE_MM as WIDE_SUB_SLICE_MM
from .platform import PhantomDraw, draw_phantom, rendition_json
from .scanner import scan_renditions, scan_volume

DOSES = (1.3, 6.5)


def split_of(seed: int, fractions=(0.75, 0.125, 0.125)) -> str:
    u = np.random.default_rng([seed, 7919]).random()
    return "train" if u < fractions[0] else "val" if u < fractions[0] + fractions[1] else "test"


def _write_phantom(folder: Path, seed: int, n_slices: int, kernels, doses, progress, kind: str | None = None,
                   nodules_inside: bool = False, draw: PhantomDraw | None = None) -> None:
    if draw is None:
        ph = make_phantom(seed, n_slices, kind=kind, nodules_inside=nodules_inside)
        vols = scan_volume(ph.object_hu, list(doses), list(kernels), seed, progress=progress)
        order = [(d, get_kernel(k)) for d in doses for k in kernels]
        stack = np.stack([vols[(d, k.name)] for d, k in order])
    else:
        ph = make_phantom(seed, n_slices, kind=draw.kind, nodules_inside=nodules_inside, outline=draw.outline,
                          geom=draw.geometry, sub_slice_mm=WIDE_SUB_SLICE_MM)
        order = list(draw.renditions)
        obj = ph.object_hu if draw.kvp == 120.0 else hu_at_kvp(ph.object_hu, draw.kvp).astype(np.float32)
        stack = scan_renditions(obj, order, seed, draw.geometry, progress=progress)
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "gt.npy", np.rint(ph.gt_hu).astype(np.int16))
    np.save(tmp / "renditions.npy", np.clip(np.rint(stack), -1024, 3071).astype(np.int16))
    (tmp / "renditions.json").write_text(json.dumps([rendition_json(d, k) for d, k in order], indent=1))
    np.savez_compressed(tmp / "labels.npz", body=ph.body, lung=ph.lung, nodules=ph.nodules)
    (tmp / "params.json").write_text(json.dumps({"seed": seed, "z_mm": ph.z_mm.tolist(), **ph.params}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    (folder / "DONE").write_text("ok\n")


def dataset_command(root: Path) -> str:
    """The ``python -m simulation dataset`` command that makes (or resumes) the dataset in ``root``, read from
    its manifest: what a model card names as the data a run trained on."""
    m = json.loads((Path(root) / "manifest.json").read_text())
    options = "".join(f" --{key} {m[key]}" for key in ("kind", "split") if m.get(key))
    if list(m.get("kernels", KERNEL_NAMES)) != list(KERNEL_NAMES):
        options += "".join(f" --kernel {shlex.quote(k)}" for k in m["kernels"])
    if m.get("nodules_inside"):
        options += " --nodules-inside"
    if m.get("platform", "named") != "named":
        options += f" --platform {m['platform']} --renditions {m['renditions_per_phantom']}"
        if "kvp" not in m["phantoms"][0]:
            options += " --fixed-field-and-kvp"
    return (f"python -m simulation dataset --out {root} --phantoms {len(m['phantoms'])} --slices {m['slices']} "
            f"--seed {m['phantoms'][0]['seed']}{options}")


def make_dataset(out: Path, n_phantoms: int, n_slices: int = 8, first_seed: int = 1000,
                 kernels=KERNEL_NAMES, doses=DOSES, show_progress: bool = True, kind: str | None = None,
                 split: str | None = None, nodules_inside: bool = False, platform: str = "named",
                 renditions: int = 12, fixed_field_and_kvp: bool = False) -> dict:
    """Create (or resume) a dataset of ``n_phantoms`` phantoms with seeds ``first_seed, first_seed+1, ...``.

    ``kind`` fixes the phantom kind (default: drawn per seed); ``split`` puts every phantom in one split (default:
    drawn per seed), e.g. a nodule test set that no training run reads; ``nodules_inside``: see make_phantom.
    ``platform="wide"``: ``renditions`` drawn renditions per phantom instead of every kernel x dose (see
    ``platform``); ``kernels``/``doses`` are then unused; ``fixed_field_and_kvp`` leaves out its field-of-view and
    tube-voltage draws (500 mm, 120 kVp: the wide platform before it drew them)."""
    if platform not in ("named", "wide"):
        raise ValueError(f"unknown platform {platform!r}; choose named or wide")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seeds = [first_seed + i for i in range(n_phantoms)]
    draws = {s: draw_phantom(s, renditions, kind, fov=not fixed_field_and_kvp, kvp=not fixed_field_and_kvp)
             for s in seeds} if platform == "wide" else {}
    manifest = {
        "geometry": asdict(FORCE), "kernels": list(kernels), "doses_mgy": list(doses), "slices": n_slices,
        "kind": kind, "split": split, "nodules_inside": nodules_inside, "platform": platform,
        "phantoms": [{"seed": s, "folder": f"phantom_{s:04d}", "split": split or split_of(s)} for s in seeds],
    }
    if platform == "wide":
        manifest["renditions_per_phantom"] = renditions
        for entry in manifest["phantoms"]:
            entry.update({k: v for k, v in draws[entry["seed"]].to_json().items() if k != "seed"})
    previous = out / "manifest.json"
    if previous.exists():
        done = {q["seed"]: q for q in json.loads(previous.read_text())["phantoms"]
                if (out / q["folder"] / "DONE").exists()}
        changed = [q["folder"] for q in manifest["phantoms"] if q["seed"] in done and done[q["seed"]] != q]
        if changed:
            raise ValueError(f"{out} holds phantoms made with other draws ({', '.join(changed[:3])}...): "
                             "an older platform or other options; make the dataset in a new folder")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    todo = [s for s in seeds if not (out / f"phantom_{s:04d}" / "DONE").exists()]
    with tqdm(total=len(todo) * n_slices, unit="slice", disable=not show_progress,
              desc=f"{len(seeds) - len(todo)}/{len(seeds)} phantoms done") as bar:
        for s in todo:
            _write_phantom(out / f"phantom_{s:04d}", s, n_slices, kernels, doses, bar.update, kind, nodules_inside,
                           draws.get(s))
    return manifest
