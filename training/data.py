"""Paired training data from the simulator's datasets (``python -m simulation dataset``), split by phantom.

A phantom folder holds ``renditions.npy`` (R, K, 512, 512) int16 HU, ``gt.npy`` (K, 512, 512),
``labels.npz`` (body, lung) and ``renditions.json`` (kernel, dose per rendition). The MTF input of each
rendition is measured on its own skin-air edge (``physics.mtf``, as the app does) and cached in ``mtf.npy``
(R, 64); an unusable edge falls back to the rendition's kernel (its recorded f50, else the kernel table).

``PatchSampler`` draws random (phantom, slice, rendition) patches centred inside the body, with paired
augmentations (flips, 90-degree turns, and with probability ``affine_prob`` a small affine: rotation,
translation, scale, shear; MONAI RandAffined) and input-only ones (Gaussian noise, contrast jitter; MONAI),
plus Gaussian noise on the MTF input. Its state is one numpy Generator, saved with every checkpoint.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from physics.image_quality import HU_OFFSET, HU_SCALE  # noqa: F401 - the network's units, used across training
from physics.image_quality import network_normalise as normalise
from physics.kernel_table import kernel_f50, model_mtf
from physics.mtf import N_FREQUENCIES, estimate_mtf, mtf_2d


@dataclass
class Phantom:
    folder: Path
    renditions: np.ndarray      # (R, K, N, N) int16, memory-mapped
    gt: np.ndarray              # (K, N, N) int16
    body: np.ndarray            # (K, N, N) uint8
    lung: np.ndarray            # (K, N, N) uint8
    mtf: np.ndarray             # (R, 64) float32
    meta: list                  # per rendition: kernel, dose_mgy
    pixel_mm: float = 500.0 / 512       # the images' pixel (``phantom_pixel_mm``)

def rendition_mtfs(folder: Path, pixel_mm: float) -> np.ndarray:
    """(R, 64) measured MTF per rendition, cached in ``mtf.npy``."""
    cache = folder / "mtf.npy"
    if cache.exists():
        return np.load(cache)
    renditions = np.load(folder / "renditions.npy", mmap_mode="r")
    meta = json.loads((folder / "renditions.json").read_text())
    out = np.empty((len(renditions), N_FREQUENCIES), np.float32)
    for r, vol in enumerate(renditions):
        m = estimate_mtf(vol, (pixel_mm, pixel_mm))
        if m.usable:
            out[r] = m.mtf
        else:
            f = np.linspace(0, 0.5 / pixel_mm, N_FREQUENCIES)
            # the kernel's recorded f50 (the widened platform's family kernels have no name the table knows)
            f50 = meta[r].get("f50_per_mm") or kernel_f50(meta[r].get("dicom_kernel") or meta[r]["kernel"].split("(")[0])
            out[r] = model_mtf(f, f50 or 0.4)
    tmp = folder / "mtf.tmp.npy"
    np.save(tmp, out)
    tmp.replace(cache)
    return out


def phantom_pixel_mm(manifest: dict, entry: dict) -> float:
    """The pixel of one phantom's images: its reconstruction field (the widened platform draws one per
    phantom), else the dataset's, over the matrix."""
    geometry = manifest["geometry"]
    return float(entry.get("recon_fov_mm") or geometry["fov_mm"]) / geometry["image_size"]


def data_roots(data) -> list[Path]:
    """A config's ``data``: one dataset folder, or a list of them (e.g. the main set and extra COPD phantoms)."""
    return [Path(d) for d in ([data] if isinstance(data, (str, Path)) else data)]


def load_split(data, split: str) -> list[Phantom]:
    """The finished phantoms of ``split`` in one dataset folder or in each of a list of them."""
    out = []
    for root in data_roots(data):
        manifest = json.loads((root / "manifest.json").read_text())
        for p in manifest["phantoms"]:
            folder = root / p["folder"]
            pixel = phantom_pixel_mm(manifest, p)
            if p["split"] != split or not (folder / "DONE").exists():
                continue
            labels = np.load(folder / "labels.npz")
            out.append(Phantom(folder, np.load(folder / "renditions.npy", mmap_mode="r"),
                               np.load(folder / "gt.npy", mmap_mode="r"), labels["body"], labels["lung"],
                               rendition_mtfs(folder, pixel), json.loads((folder / "renditions.json").read_text()),
                               pixel))
    if not out:
        raise ValueError(f"no finished phantoms of split '{split}' in {', '.join(map(str, data_roots(data)))}")
    return out


class PatchSampler:
    """Random paired patches; ``batch(n)`` -> dict of tensors input, gt, lung (n, 1, P, P) and mtf2d (n, 1, 64, 64)."""

    def __init__(self, phantoms: list[Phantom], patch: int = 128, seed: int = 0, affine_prob: float = 0.2,
                 noise_std: float = 0.005, contrast_prob: float = 0.2, mtf_noise: float = 0.01):
        from monai.transforms import Compose, RandAdjustContrastd, RandAffined, RandGaussianNoised

        self.phantoms, self.patch = phantoms, patch
        self.rng = np.random.default_rng(seed)
        self.mtf_noise = mtf_noise
        self.affine = RandAffined(keys=("input", "gt", "lung"), prob=affine_prob, rotate_range=0.17,
                                  shear_range=0.05, translate_range=8, scale_range=0.08,
                                  mode=("bilinear", "bilinear", "nearest"), padding_mode="border")
        self.input_only = Compose([RandGaussianNoised(keys="input", prob=0.3, std=noise_std),
                                   RandAdjustContrastd(keys="input", prob=contrast_prob, gamma=(0.95, 1.05))])

    def state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]

    def _one(self) -> dict:
        rng = self.rng
        ph = self.phantoms[rng.integers(len(self.phantoms))]
        k = int(rng.integers(ph.gt.shape[0]))
        r = int(rng.integers(ph.renditions.shape[0]))
        ys, xs = np.nonzero(ph.body[k])
        half = self.patch // 2
        n = ph.gt.shape[-1]
        i = int(rng.integers(len(ys)))
        cy, cx = int(np.clip(ys[i], half, n - half)), int(np.clip(xs[i], half, n - half))
        win = np.s_[cy - half:cy + half, cx - half:cx + half]
        sample = {"input": normalise(ph.renditions[r, k][win])[None], "gt": normalise(ph.gt[k][win])[None],
                  "lung": (ph.lung[k][win] > 0).astype(np.float32)[None]}
        flips = rng.integers(2, size=2)
        turns = int(rng.integers(4))
        for key in sample:
            a = sample[key]
            if flips[0]:
                a = a[:, ::-1]
            if flips[1]:
                a = a[:, :, ::-1]
            sample[key] = np.ascontiguousarray(np.rot90(a, turns, axes=(1, 2)))
        seed = int(rng.integers(2**31))
        self.affine.set_random_state(seed)
        self.input_only.set_random_state(seed + 1)
        sample = self.input_only(self.affine(sample))
        mtf = np.clip(ph.mtf[r] + self.mtf_noise * rng.standard_normal(N_FREQUENCIES), 0.0, 1.05)
        mtf[0] = 1.0
        sample = {k2: torch.as_tensor(np.asarray(v), dtype=torch.float32) for k2, v in sample.items()}
        sample["mtf2d"] = torch.from_numpy(mtf_2d(mtf))[None]
        return sample

    def batch(self, n: int) -> dict:
        items = [self._one() for _ in range(n)]
        return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def validation_slices(phantoms: list[Phantom], count: int = 8, seed: int = 1234) -> list[tuple]:
    """A fixed list of (phantom index, slice, rendition) for periodic full-slice validation."""
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(len(phantoms))), int(rng.integers(phantoms[0].gt.shape[0])),
             int(rng.integers(phantoms[0].renditions.shape[0]))) for _ in range(count)]
