"""The paper's evaluation on held-out virtual phantoms: every rendition of every test phantom through each
harmonizer, against the phantom's ground truth (see README "Evaluation" for the definitions).

Methods: NH (the input renditions), each model given (e.g. H = the trained network, the physics baseline, the
U-Net ablation), and ComBat on the biomarkers of NH with the smooth-kernel high-dose batch as reference.
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from physics.biomarkers import lung_biomarkers
from physics.image_quality import image_metrics
from physics.mtf import estimate_mtf, mtf_2d
from physics.noise import nps

from .combat import combat
from .detectability import d_prime
from .nodules import nodule_features

BIOMARKERS = ("laa950_percent", "perc15_hu", "lung_mass_g")
NODULE_FEATURES = ("volume_mm3", "surface_to_volume", "sphericity")
REFERENCE_BATCH = "smooth/6.5"


def kernel_group(meta: dict) -> str:
    """smooth / medium / sharp by the rendition's f50 (the named kernels' index / 100: up to Br40, up to
    Br49, beyond)."""
    f50 = float(meta["f50_per_mm"]) if meta.get("f50_per_mm") is not None else int(meta["kernel"][2:4]) / 100.0
    return "smooth" if f50 <= 0.405 else ("medium" if f50 <= 0.495 else "sharp")


def _mean_sd(values) -> list:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    return [float(v.mean()), float(v.std())] if len(v) else [None, None]


def evaluate(data: Path, models: dict[str, Path], split: str = "test", max_phantoms: int | None = None,
             rendition_step: int = 1, progress: bool = True) -> dict:
    from tqdm import tqdm

    from operators.harmonize import harmonize_volume, load_model
    from training.data import load_split

    phantoms = load_split(data, split)[:max_phantoms]
    loaded = {name: load_model(path) for name, path in models.items()}
    methods = ["NH"] + list(loaded)
    rows = []            # one per (phantom, rendition, method): biomarkers, nodules, d', f50, noise
    nodules_evaluated = 0
    slices = defaultdict(list)
    examples = {}
    taken = set()            # one example each: the sharpest kernel at the lowest dose, the smoothest at the highest
    total = sum(len(range(0, p.renditions.shape[0], rendition_step)) for p in phantoms)
    bar = tqdm(total=total, disable=not progress, unit="rendition")
    for pi, ph in enumerate(phantoms):
        params = json.loads((ph.folder / "params.json").read_text())
        pixel = ph.pixel_mm
        z = np.asarray(params["z_mm"], float)
        spacing = (float(np.median(np.diff(z))) if len(z) > 1 else 1.0, pixel, pixel)
        lungs = ph.lung > 0
        voxel = spacing[0] * pixel * pixel
        nod = np.load(ph.folder / "labels.npz")["nodules"]
        gt = np.asarray(ph.gt, dtype=np.float32)
        gt_bio = lung_biomarkers(gt, lungs, voxel)
        gt_nod = nodule_features(gt, nod, spacing) if nod.any() else {}
        nodules_evaluated += len(gt_nod)
        for r in range(0, ph.renditions.shape[0], rendition_step):
            meta = ph.meta[r]
            vol = np.asarray(ph.renditions[r], dtype=np.float32)
            outputs = {"NH": vol}
            for name, model in loaded.items():
                outputs[name] = harmonize_volume(model, vol, mtf_2d(ph.mtf[r]), [1, 0, 0, 0, 1, 0])
            for method, out in outputs.items():
                for k in range(out.shape[0]):
                    slices[method].append(image_metrics(out[k], gt[k]))
                m = estimate_mtf(out, (pixel, pixel))
                n = nps(out, (pixel, pixel))
                row = {"phantom": int(params["seed"]), "kind": params["kind"], "kernel": meta["kernel"],
                       "dose_mgy": meta["dose_mgy"], "batch": f"{kernel_group(meta)}/{meta['dose_mgy']}",
                       "method": method, "f50_per_mm": m.f50_per_mm, "noise_sd_hu": n.noise_sd_hu,
                       "d_prime": d_prime(m.frequencies_per_mm, m.mtf, n.nps_2d, pixel) if m.usable and n.rois else None,
                       **{f"bias_{b}": lung_biomarkers(out, lungs, voxel)[b] - gt_bio[b] for b in BIOMARKERS},
                       **{b: lung_biomarkers(out, lungs, voxel)[b] for b in BIOMARKERS}}
                if gt_nod:
                    feats = nodule_features(out, nod, spacing)
                    for f in NODULE_FEATURES:
                        row[f"rel_err_{f}"] = [float((feats[i][f] - gt_nod[i][f]) / gt_nod[i][f]) for i in gt_nod
                                               if np.isfinite(gt_nod[i][f]) and gt_nod[i][f] and np.isfinite(feats[i][f])]
                rows.append(row)
            f50s = [m["f50_per_mm"] for m in ph.meta]
            sharpest_low = meta["f50_per_mm"] == max(f50s) and meta["dose_mgy"] == min(
                m["dose_mgy"] for m in ph.meta if m["f50_per_mm"] == max(f50s))
            smoothest_high = meta["f50_per_mm"] == min(f50s) and meta["dose_mgy"] == max(
                m["dose_mgy"] for m in ph.meta if m["f50_per_mm"] == min(f50s))
            picked = "sharp" if sharpest_low else "smooth" if smoothest_high else None
            if pi == 0 and picked and picked not in taken:
                taken.add(picked)
                examples[f"{meta['kernel']} {meta['dose_mgy']} mGy"] = {k: v[v.shape[0] // 2] for k, v in outputs.items()}
                examples[f"{meta['kernel']} {meta['dose_mgy']} mGy"]["GT"] = gt[gt.shape[0] // 2]
            bar.update(1)
    bar.close()
    rows += _combat_rows([r for r in rows if r["method"] == "NH"], phantoms)
    methods.append("ComBat")
    return {"split": split, "phantoms": [int(json.loads((p.folder / "params.json").read_text())["seed"]) for p in phantoms],
            "models": {name: m.info for name, m in loaded.items()}, "rendition_step": rendition_step,
            "image_quality": {m: {key: _mean_sd(s[key] for s in slices[m]) for key in ("ssim", "psnr_db", "nrmse_percent")}
                              for m in methods if m in slices},
            "biomarkers": _biomarker_tables(rows, methods),
            "nodules": _nodule_table(rows, methods), "nodules_evaluated": nodules_evaluated,
            "detectability": {m: {key: _mean_sd(r[key] for r in rows if r["method"] == m)
                                  for key in ("d_prime", "f50_per_mm", "noise_sd_hu")}
                              for m in methods if m != "ComBat"},
            "rows": rows, "_examples": examples}


def _combat_rows(nh_rows: list[dict], phantoms) -> list[dict]:
    feats = np.array([[r[b] for b in BIOMARKERS] for r in nh_rows])
    batches = [r["batch"] for r in nh_rows]
    counts = {b: batches.count(b) for b in set(batches)}
    if REFERENCE_BATCH not in counts or len(counts) < 2 or min(counts.values()) < 2:
        return []          # ComBat needs the reference and at least two samples in every batch
    harmonized = combat(feats, batches, REFERENCE_BATCH, [str(r["phantom"]) for r in nh_rows])
    out = []
    for r, h in zip(nh_rows, harmonized):
        row = {k: r[k] for k in ("phantom", "kind", "kernel", "dose_mgy", "batch")}
        row["method"] = "ComBat"
        for b, v in zip(BIOMARKERS, h):
            row[b] = float(v)
            row[f"bias_{b}"] = float(v) - (r[b] - r[f"bias_{b}"])
        out.append(row)
    return out


def _biomarker_tables(rows, methods) -> dict:
    """Per method: mean +- SD of |bias| vs GT, the SD across renditions (averaged over phantoms), and the
    mean bias per kernel group and dose."""
    out = {}
    for m in methods:
        mine = [r for r in rows if r["method"] == m]
        if not mine:
            continue
        table = {}
        for b in BIOMARKERS:
            per_phantom = defaultdict(list)
            for r in mine:
                per_phantom[r["phantom"]].append(r[b])
            by_batch = defaultdict(list)
            for r in mine:
                by_batch[r["batch"]].append(r[f"bias_{b}"])
            table[b] = {"abs_bias": _mean_sd(abs(r[f"bias_{b}"]) for r in mine),
                        "variability_sd": float(np.mean([np.std(v) for v in per_phantom.values()])),
                        "bias_by_batch": {k: _mean_sd(v) for k, v in sorted(by_batch.items())}}
        out[m] = table
    return out


def _nodule_table(rows, methods) -> dict:
    out = {}
    for m in methods:
        errs = {f: [e for r in rows if r["method"] == m for e in r.get(f"rel_err_{f}", [])] for f in NODULE_FEATURES}
        if any(errs.values()):
            out[m] = {f"nrmse_{f}": float(np.sqrt(np.mean(np.square(v)))) if v else None for f, v in errs.items()}
    return out


def card_metrics(result: dict, model: str) -> dict:
    """The held-out numbers a model card states: model vs input (and every other method), flat."""
    out = {"held_out_phantoms": result["phantoms"], "rendition_step": result["rendition_step"]}
    for m, q in result["image_quality"].items():
        for key, (mean, sd) in q.items():
            out[f"{m}.{key}"] = None if mean is None else f"{mean:.4f} ± {sd:.4f}"
    for m, t in result["biomarkers"].items():
        for b in BIOMARKERS:
            mean, sd = t[b]["abs_bias"]
            out[f"{m}.abs_bias_{b}"] = None if mean is None else f"{mean:.3f} ± {sd:.3f}"
            out[f"{m}.sd_across_renditions_{b}"] = round(t[b]["variability_sd"], 3)
    out["model_evaluated"] = model
    out["model_sha256"] = result["models"][model]["sha256"]
    return out


def print_tables(result: dict) -> None:
    def fmt(ms, digits=2):
        return "-" if ms[0] is None else f"{ms[0]:.{digits}f} ± {ms[1]:.{digits}f}"

    print(f"held-out phantoms {result['phantoms']} ({result['split']} split), every "
          f"{result['rendition_step']} rendition(s)")
    print("\nImage quality per 2-D slice vs GT (mean ± SD)")
    print(f"{'method':18s} {'SSIM (%)':>16s} {'NRMSE (%)':>16s} {'PSNR (dB)':>16s}")
    for m, q in result["image_quality"].items():
        ssim = [None if v is None else 100 * v for v in q["ssim"]]
        print(f"{m:18s} {fmt(ssim, 1):>16s} {fmt(q['nrmse_percent'], 1):>16s} {fmt(q['psnr_db'], 1):>16s}")
    print("\nLung biomarkers: |bias| vs GT (mean ± SD) and SD across renditions")
    print(f"{'method':18s} {'|ΔLAA-950| (%)':>18s} {'|ΔPerc15| (HU)':>18s} {'|Δmass| (g)':>16s} {'SD LAA/Perc15/mass':>22s}")
    for m, t in result["biomarkers"].items():
        sd = "/".join(f"{t[b]['variability_sd']:.2f}" for b in BIOMARKERS)
        print(f"{m:18s} {fmt(t['laa950_percent']['abs_bias']):>18s} {fmt(t['perc15_hu']['abs_bias'], 1):>18s} "
              f"{fmt(t['lung_mass_g']['abs_bias']):>16s} {sd:>22s}")
    if result["nodules"]:
        print(f"\nNodule morphology: NRMSE vs GT (relative), {result.get('nodules_evaluated', '?')} nodules wholly "
              "inside the slab")
        print(f"{'method':18s} {'volume':>10s} {'A/V':>10s} {'sphericity':>12s}")
        for m, t in result["nodules"].items():
            vals = [t[f"nrmse_{f}"] for f in NODULE_FEATURES]
            print(f"{m:18s} " + " ".join(f"{'-' if v is None else f'{v:.3f}':>10s}" for v in vals))
    print("\nDetectability (4 mm, 100 HU, Eq. 9), skin-air f50 and noise SD across renditions (mean ± SD)")
    print(f"{'method':18s} {'d prime':>20s} {'f50 (/mm)':>16s} {'noise SD (HU)':>16s}")
    for m, t in result["detectability"].items():
        print(f"{m:18s} {fmt(t['d_prime'], 1):>20s} {fmt(t['f50_per_mm'], 3):>16s} {fmt(t['noise_sd_hu'], 1):>16s}")
