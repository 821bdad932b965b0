"""Nodule morphology (paper Table II): a fixed K-means segmentation, then volume, surface-to-volume and
sphericity from a marching-cubes mesh.

Segmentation: in a box around the nodule (its label grown by ``margin_mm``), K-means with two clusters on
HU (scipy's kmeans2, seeded) splits nodule from parenchyma; the nodule is the brighter cluster's connected
component that holds the label's centre, kept within ``margin_mm`` of the label (a vessel or the chest wall
touching the nodule would otherwise join it: in the box they are as bright as the nodule). The same procedure
runs on GT, input and harmonized images. Only nodules wholly inside the scanned slab count (``whole_nodules``):
one cut by the slab's first or last slice has a cut shape.
Mesh: skimage marching cubes at the mask's 0.5 level with the voxel spacing; V from the mesh (divergence
theorem), A its area, sphericity = (36 pi V^2)^(1/3) / A (1 for a sphere).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy.cluster.vq import kmeans2
from skimage.measure import marching_cubes, mesh_surface_area


def mesh_features(mask: np.ndarray, spacing_zyx) -> dict:
    """{"volume_mm3", "surface_mm2", "surface_to_volume", "sphericity"} of a binary 3-D mask."""
    padded = np.pad(mask.astype(np.float32), 1)
    if padded.max() < 1:
        return {"volume_mm3": 0.0, "surface_mm2": 0.0, "surface_to_volume": float("nan"), "sphericity": float("nan")}
    verts, faces, _, _ = marching_cubes(padded, 0.5, spacing=tuple(float(s) for s in spacing_zyx))
    area = float(mesh_surface_area(verts, faces))
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    volume = float(abs(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)
    return {"volume_mm3": volume, "surface_mm2": area, "surface_to_volume": area / volume if volume else float("nan"),
            "sphericity": float((36 * np.pi * volume**2) ** (1 / 3) / area) if area else float("nan")}


def segment_nodule(volume_hu: np.ndarray, label: np.ndarray, spacing_zyx, margin_mm: float = 4.0,
                   seed: int = 0) -> np.ndarray:
    """Boolean mask of the nodule marked by ``label`` (same shape as the volume), by two-cluster K-means."""
    grow = [max(1, int(round(margin_mm / s))) for s in spacing_zyx]
    zz, yy, xx = np.nonzero(label)
    box = tuple(slice(max(0, lo.min() - g), hi.max() + g + 1) for lo, hi, g in ((zz, zz, grow[0]), (yy, yy, grow[1]), (xx, xx, grow[2])))
    roi = np.asarray(volume_hu, dtype=np.float64)[box]
    centroids, labels = kmeans2(roi.reshape(-1, 1), np.array([[roi.min()], [roi.max()]]), minit="matrix", seed=seed)
    bright = (labels == int(np.argmax(centroids[:, 0]))).reshape(roi.shape)
    comp, n = ndi.label(bright)
    centre = tuple(int(round(np.mean(a))) - s.start for a, s in zip((zz, yy, xx), box))
    near = ndi.distance_transform_edt(label[box] == 0, sampling=tuple(float(v) for v in spacing_zyx)) <= margin_mm
    comp[~near] = 0
    out = np.zeros(volume_hu.shape, bool)
    pick = comp[centre]
    if pick == 0 and n:       # the centre fell in the dark cluster: take the component overlapping the label most
        overlap = ndi.sum(label[box] > 0, comp, index=np.arange(1, n + 1))
        pick = 1 + int(np.argmax(overlap))
    if pick:
        out[box] = comp == pick
    return out


def whole_nodules(nodule_labels: np.ndarray) -> list[int]:
    """Ids (> 0) of the nodules that touch neither the first nor the last slice."""
    ends = set(np.unique(nodule_labels[0])) | set(np.unique(nodule_labels[-1]))
    return [int(i) for i in np.unique(nodule_labels) if i > 0 and i not in ends]


def nodule_features(volume_hu: np.ndarray, nodule_labels: np.ndarray, spacing_zyx) -> dict[int, dict]:
    """Features of every nodule wholly inside the volume (see ``whole_nodules``)."""
    return {i: mesh_features(segment_nodule(volume_hu, nodule_labels == i, spacing_zyx), spacing_zyx)
            for i in whole_nodules(nodule_labels)}
