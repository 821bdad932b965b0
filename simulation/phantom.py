"""Seeded, procedural 3-D chest phantoms: a slab of contiguous axial slices with its ground truth.

Anatomy (all sizes in mm, LPS patient coordinates: +x patient left, +y posterior, +z head): an elliptical
body with Fourier-perturbed outline and a flattened back resting on the patient table; skin, subcutaneous
fat and muscle layers; a thoracic cavity holding two lungs with textured parenchyma (Gaussian random field),
pulmonary vessel and airway trees, the heart with pericardial fat, the descending aorta, a vertebra with
spinal canal, ribs and sternum; optional arms beside the body. Disease: emphysema (severity, distribution,
cluster size and bullae varied) and nodules (3-20 mm, solid or part-solid, smooth to spiculated). HU values
are ``materials.HU``.

The phantom is rasterised on the projector's grid (``oversample`` x the image matrix, 0.488 mm) with
partial-volume edges; the ground truth (GT) is its mean over each image pixel: the tissue map in HU at
120 kVp with no noise, blur or artefact, on the reconstruction grid, as in the paper. Labels (body, lungs,
nodule instances) are on the GT grid.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.ndimage import zoom

from .geometry import FORCE, ScannerGeometry
from .lesions import Emphysema, Nodule, nodule_hu, random_emphysema, random_nodule
from .materials import HU
from .shapes import coverage, ellipse_sdf, paint, radial_sdf, smooth_field
from .trees import Segment, grow_tree, tube_distance

KINDS = ("copd", "nodule")
SUB_SLICE_MM = 1.0


@dataclass
class Phantom:
    seed: int
    kind: str
    z_mm: np.ndarray                 # slice centres (K,)
    object_hu: np.ndarray            # (K, 2n, 2n) float32, projector grid
    gt_hu: np.ndarray                # (K, n, n) float32
    body: np.ndarray                 # (K, n, n) uint8
    lung: np.ndarray                 # (K, n, n) uint8: 1 right lung, 2 left lung
    nodules: np.ndarray              # (K, n, n) uint8 instance ids (0 = none)
    params: dict = field(default_factory=dict)


@dataclass
class _Anatomy:
    cx: float
    cy: float
    a: float
    b: float
    harmonics: np.ndarray            # (n, 3): order, amplitude, phase
    flat: float
    skin: float
    fat: float
    muscle: float
    lungs: list                      # [(side, cx, cy, a, b, angle)]
    heart: tuple
    aorta: tuple
    spine: tuple
    ribs: np.ndarray                 # (m, 2): angle, z-twist
    arms: list
    table_y: float | None
    vessels: list[Segment]
    airways: list[Segment]
    emphysema: Emphysema | None
    nodules: list[Nodule]
    folds: list = field(default_factory=list)       # [(angle, half-width rad, depth mm)] skin folds
    breasts: list = field(default_factory=list)     # [(cx, cy, a, b, angle)] mm
    cloth: tuple | None = None                      # (angle from, angle to, thickness, HU, gap, gap waves, phase)

    def body_radius(self, phi: np.ndarray, z: float, inset: float = 0.0) -> np.ndarray:
        a, b = self.a * (1 + 0.003 * z) - inset, self.b * (1 + 0.002 * z) - inset
        r = a * b / np.sqrt((b * np.cos(phi)) ** 2 + (a * np.sin(phi)) ** 2)
        for order, amp, phase in self.harmonics:
            r = r * (1 + amp * np.cos(order * phi + phase))
        r = r * (1 - self.flat * np.clip(np.sin(phi), 0, None) ** 6)
        # skin folds dent the skin and the fat under it, not the muscle
        reach = max(0.0, 1.0 - inset / (self.skin + self.fat))
        for angle, width, depth in self.folds:
            d = np.angle(np.exp(1j * (phi - angle)))
            r = r - reach * depth * np.exp(-(d / width) ** 2)
        return r

    def cavity_inset(self) -> float:
        return self.skin + self.fat + self.muscle

    def lung_sdf(self, lung, x, y, z):
        _, lx, ly, la, lb, ang = lung
        s = 1 + 0.004 * z
        return ellipse_sdf(x, y, lx, ly, la * s, lb * s, ang)

    def inside_lungs(self, p: np.ndarray, margin: float = 1.0) -> bool:
        return any(self.lung_sdf(lg, np.array(p[0]), np.array(p[1]), p[2]) < -margin for lg in self.lungs)


@dataclass(frozen=True)
class Outline:
    """What makes a patient's outline irregular, each independent of the anatomy's own random draws.

    ``harmonics``: extra outline harmonics (orders 6-14) of this relative amplitude; ``folds``: skin folds;
    ``breasts``: an anterior breast on each side; ``cloth``: a gown or blanket (HU -600..-100) lying on the
    anterior skin, touching it in places, with air gaps elsewhere; ``arms_touching``: arms against the body;
    ``size``: body scale factor (1: the anatomy's own size)."""
    harmonics: float = 0.0
    folds: int = 0
    breasts: bool = False
    cloth: bool = False
    arms_touching: bool = False
    size: float = 1.0


def draw_outline(rng: np.random.Generator) -> Outline:
    """An irregular outline for the widened platform: each feature present in about half the patients."""
    return Outline(harmonics=float(rng.uniform(0.0, 0.012)), folds=int(rng.integers(0, 4)),
                   breasts=bool(rng.random() < 0.4), cloth=bool(rng.random() < 0.5),
                   arms_touching=bool(rng.random() < 0.3), size=float(rng.uniform(0.8, 1.2)))


def _irregular(rng: np.random.Generator, anat: _Anatomy, outline: Outline) -> None:
    """Add ``outline``'s features to ``anat`` (drawn from their own generator)."""
    if outline.harmonics:
        extra = [[n, outline.harmonics * rng.uniform(-1, 1) / np.sqrt(n / 6), rng.uniform(0, 2 * np.pi)]
                 for n in range(6, 15)]
        anat.harmonics = np.concatenate([anat.harmonics, np.array(extra)])
    for _ in range(outline.folds):
        # folds at the flanks and the front, where skin creases
        angle = float(rng.choice([0.0, np.pi, 1.5 * np.pi]) + rng.uniform(-0.5, 0.5))
        anat.folds.append((angle, float(rng.uniform(0.02, 0.06)), float(rng.uniform(2.0, min(8.0, anat.fat)))))
    if outline.breasts:
        for sign in (-1.0, 1.0):
            phi = 1.5 * np.pi + sign * rng.uniform(0.35, 0.55)
            ba, bb = rng.uniform(45, 70), rng.uniform(25, 45)
            r = float(anat.body_radius(np.array(phi), 0.0)) - 0.45 * bb
            anat.breasts.append((anat.cx + r * np.cos(phi), anat.cy + r * np.sin(phi), ba, bb,
                                 sign * rng.uniform(0.2, 0.5)))
    if outline.cloth:
        start = rng.uniform(0.9, 1.2) * np.pi
        anat.cloth = (start, start + rng.uniform(0.5, 0.8) * np.pi, float(rng.uniform(0.5, 4.0)),
                      float(rng.uniform(-600, -100)), float(rng.uniform(0.5, 6.0)), int(rng.integers(2, 7)),
                      float(rng.uniform(0, 2 * np.pi)))
    if outline.arms_touching:
        r_arm = rng.uniform(38, 46)
        anat.arms = []
        for sign in (-1.0, 1.0):
            ax = anat.cx + sign * (float(anat.body_radius(np.array(0.0 if sign > 0 else np.pi), 0.0)) +
                                   rng.uniform(-4.0, 2.0) + r_arm)
            if abs(ax) + r_arm < 240:
                anat.arms.append((ax, anat.cy + rng.uniform(-10, 20), r_arm))


def _anatomy(rng: np.random.Generator, kind: str, arms: bool | None, table: bool, z_span: float,
             nodule_z_span: float | None = None, size: float = 1.0) -> _Anatomy:
    a, b = size * rng.uniform(140, 180), size * rng.uniform(100, 125)
    cx, cy = rng.uniform(-15, 15), rng.uniform(-25, 0)
    harmonics = np.array([[n, rng.uniform(-0.03, 0.03), rng.uniform(0, 2 * np.pi)] for n in range(2, 6)])
    skin, fat, muscle = 2.0, rng.uniform(5, 22), rng.uniform(8, 16)
    inset = skin + fat + muscle
    ac, bc = a - inset, b - inset
    lungs = []
    for side, sign in ((1, -1.0), (2, 1.0)):   # 1 = right lung (patient right, -x), 2 = left
        lungs.append((side, cx + sign * 0.50 * ac, cy + 0.02 * bc, 0.40 * ac * rng.uniform(0.92, 1.05),
                      0.80 * bc * rng.uniform(0.92, 1.02), sign * rng.uniform(-0.15, 0.05)))
    heart = (cx + 0.17 * ac, cy - 0.28 * bc, 0.34 * ac, 0.42 * bc, -0.5)
    spine_y = cy + bc - 14
    spine = (cx, spine_y, 15.0)
    aorta = (cx + 26, spine_y - 22, rng.uniform(10, 14))
    n_ribs = int(rng.integers(6, 9))
    back = np.linspace(np.deg2rad(20), np.deg2rad(160), n_ribs)
    front = np.linspace(np.deg2rad(200), np.deg2rad(340), n_ribs)
    angles = np.concatenate([back[np.abs(back - np.pi / 2) > 0.3], front[np.abs(front - 1.5 * np.pi) > 0.25]])
    ribs = np.stack([angles + rng.normal(0, 0.03, len(angles)), rng.uniform(0.002, 0.006, len(angles))], 1)
    with_arms = bool(rng.random() < 0.5) if arms is None else arms
    arm_list = []
    if with_arms:
        r_arm = rng.uniform(38, 46)
        for sign in (-1.0, 1.0):
            ax = cx + sign * (a + rng.uniform(12, 25) + r_arm)
            if abs(ax) + r_arm < 240:
                arm_list.append((ax, cy + rng.uniform(-10, 20), r_arm))
    flat = rng.uniform(0.05, 0.12)
    anat = _Anatomy(cx, cy, a, b, harmonics, flat, skin, fat, muscle, lungs, heart, aorta, spine, ribs, arm_list,
                    None, [], [], None, [])
    if table:
        anat.table_y = cy + float(anat.body_radius(np.array(np.pi / 2), 0.0)) + 0.5
    # trees: two vessel trees and one airway tree per lung, grown from the hilum
    for lung in lungs:
        side, lx, ly, la, lb, _ = lung
        sign = -1.0 if side == 1 else 1.0
        for _ in range(2):
            root = np.array([lx - sign * 0.7 * la, ly + rng.uniform(-0.3, 0.3) * lb, rng.uniform(-0.3, 0.3) * z_span])
            d = np.array([sign, rng.uniform(-0.6, 0.6), rng.uniform(-0.8, 0.8)])
            anat.vessels += grow_tree(rng, root, d, rng.uniform(4.0, 5.5), rng.uniform(18, 26), anat.inside_lungs,
                                      min_radius=0.6)
        root = np.array([lx - sign * 0.75 * la, ly - 0.1 * lb, rng.uniform(-0.3, 0.3) * z_span])
        d = np.array([sign, rng.uniform(-0.3, 0.3), rng.uniform(-0.8, 0.8)])
        anat.airways += grow_tree(rng, root, d, rng.uniform(4.0, 5.0), 22, anat.inside_lungs, min_radius=0.9,
                                  max_generations=5)
    if kind == "copd":
        anat.emphysema = random_emphysema(rng)
        if anat.emphysema.severity > 0.08:
            for _ in range(int(rng.integers(0, 4))):
                c = _random_lung_point(rng, anat, 12.0, z_span)
                if c is not None:
                    anat.emphysema.bullae.append((c, float(rng.uniform(5, 14))))
    else:
        anat.emphysema = random_emphysema(rng, severity=rng.uniform(0.0, 0.03))
        for _ in range(int(rng.integers(1, 4))):
            c = _random_lung_point(rng, anat, 14.0, z_span if nodule_z_span is None else nodule_z_span)
            if c is not None:
                anat.nodules.append(random_nodule(rng, c))
    return anat


def _random_lung_point(rng, anat: _Anatomy, margin: float, z_span: float):
    for _ in range(200):
        lung = anat.lungs[int(rng.integers(0, 2))]
        _, lx, ly, la, lb, _ = lung
        p = np.array([lx + rng.uniform(-la, la), ly + rng.uniform(-lb, lb), rng.uniform(-0.4, 0.4) * z_span])
        if anat.inside_lungs(p, margin):
            return p
    return None


def _slice(anat: _Anatomy, x: np.ndarray, z: float, tex: np.ndarray, emph: np.ndarray, px: float):
    """Rasterise one slice on the fine grid. Returns hu, body coverage, lung id map (float), nodule coverages."""
    xx, yy = np.meshgrid(x, x)
    img = np.full(xx.shape, HU["air"])
    if anat.table_y is not None:
        t0 = anat.table_y
        shell = np.maximum(np.maximum(t0 - yy, yy - (t0 + 40)), np.abs(xx) - 215)
        paint(img, shell, HU["table_shell"], px)
        core = np.maximum(np.maximum(t0 + 3 - yy, yy - (t0 + 37)), np.abs(xx) - 212)
        paint(img, core, HU["table_core"], px)
    for ax, ay, r in anat.arms:
        d = np.hypot(xx - ax, yy - ay)
        paint(img, d - r, HU["skin"], px)
        paint(img, d - (r - 2), HU["fat"], px)
        paint(img, d - (r - 9), HU["muscle"], px)
        paint(img, np.hypot(xx - ax - 3, yy - ay) - 11, HU["cortical_bone"], px)
        paint(img, np.hypot(xx - ax - 3, yy - ay) - 8, HU["marrow_rib"], px)

    def body_sdf(inset):
        return radial_sdf(xx, yy, anat.cx, anat.cy, lambda phi: anat.body_radius(phi, z, inset))

    body = paint(img, body_sdf(0.0), HU["skin"], px)
    paint(img, body_sdf(anat.skin), HU["fat"], px)
    muscle = paint(img, body_sdf(anat.skin + anat.fat), HU["muscle"], px)
    for bx, by, ba, bb, ang in anat.breasts:
        outer = ellipse_sdf(xx, yy, bx, by, ba, bb, ang)
        paint(img, outer, HU["skin"], px, within=1.0 - body)
        paint(img, ellipse_sdf(xx, yy, bx, by, ba - anat.skin, bb - anat.skin, ang), HU["fat"], px,
              within=1.0 - muscle)
        paint(img, ellipse_sdf(xx, yy, bx, by - 0.1 * bb, 0.55 * ba, 0.45 * bb, ang), HU["glandular"], px,
              within=1.0 - muscle)
        body = np.maximum(body, coverage(outer, px))
    if anat.cloth is not None:
        lo, hi, thick, hu, gap, waves, phase = anat.cloth
        phi = np.arctan2(yy - anat.cy, xx - anat.cx) % (2 * np.pi)
        arc = (phi - lo) % (2 * np.pi) < (hi - lo)
        # the gap to the skin goes to zero at the troughs of a few waves: touching there, air between
        off = np.clip(gap * np.cos(waves * phi + phase), 0.0, None)
        r = np.hypot(xx - anat.cx, yy - anat.cy) - anat.body_radius(phi, z) - off - thick / 2
        shell = np.where(arc, np.abs(r) - thick / 2, np.inf)
        paint(img, shell, hu, px, within=np.clip((-900.0 - img) / 100.0, 0.0, 1.0))
    # ribs sit in the muscle layer, just outside the cavity
    inset = anat.cavity_inset()
    for phi0, twist in anat.ribs:
        phi = phi0 + twist * z
        r = float(anat.body_radius(np.array(phi), z, inset - 5.0))
        rx, ry = anat.cx + r * np.cos(phi), anat.cy + r * np.sin(phi)
        paint(img, ellipse_sdf(xx, yy, rx, ry, 6.0, 3.5, phi + np.pi / 2), HU["cortical_bone"], px)
        paint(img, ellipse_sdf(xx, yy, rx, ry, 4.5, 2.0, phi + np.pi / 2), HU["marrow_rib"], px)
    cavity = body_sdf(inset)
    paint(img, cavity, HU["blood"], px)  # mediastinal soft tissue
    stern_y = anat.cy - float(anat.body_radius(np.array(1.5 * np.pi), z, inset - 6.0))
    paint(img, ellipse_sdf(xx, yy, anat.cx, stern_y, 14, 5), HU["cortical_bone"], px)
    paint(img, ellipse_sdf(xx, yy, anat.cx, stern_y, 12, 3.5), HU["cancellous_bone"], px)
    lung_id = np.zeros_like(img)
    lung_cov = np.zeros_like(img)
    for lung in anat.lungs:
        c = paint(img, np.maximum(anat.lung_sdf(lung, xx, yy, z), cavity + 3.0), HU["lung"], px)
        lung_id = np.where(c > lung_cov, lung[0], lung_id)
        lung_cov = np.maximum(lung_cov, c)
    # parenchyma texture and emphysema, inside the lungs only
    img += lung_cov * tex
    if anat.emphysema is not None:
        destroyed = emph * lung_cov
        img = img * (1 - destroyed) + destroyed * (HU["emphysema"] + 0.3 * tex).clip(None, -955.0)
        for c, r in anat.emphysema.bullae:
            if abs(z - c[2]) < r:
                rr = np.sqrt(r * r - (z - c[2]) ** 2)
                paint(img, np.hypot(xx - c[0], yy - c[1]) - rr, HU["bulla"], px, within=lung_cov)
    margin = 2 * px
    paint(img, tube_distance(anat.vessels, x, x, z, margin), HU["blood"], px, within=lung_cov)
    walls = tube_distance([Segment(s.p0, s.p1, s.radius * 1.25) for s in anat.airways], x, x, z, margin)
    paint(img, walls, HU["airway_wall"], px, within=lung_cov)
    paint(img, tube_distance(anat.airways, x, x, z, margin), HU["air"], px, within=lung_cov)
    nodule_cov = []
    for n in anat.nodules:
        if abs(z - n.centre[2]) > n.reach():
            nodule_cov.append(np.zeros_like(img))
            continue
        outer, core = nodule_hu(n)
        cov = paint(img, n.signed_distance(xx, yy, z), outer, px, within=lung_cov)
        if core is not None:
            paint(img, n.signed_distance(xx, yy, z, core=0.5), core, px, within=lung_cov)
        nodule_cov.append(cov)
    # organs painted over the lungs remove lung coverage
    def solid(d, hu):
        nonlocal lung_cov
        c = paint(img, d, hu, px)
        lung_cov = lung_cov * (1 - c)

    hx, hy, ha, hb, hang = anat.heart
    solid(ellipse_sdf(xx, yy, hx, hy, ha + 3, hb + 3, hang), HU["fat"])
    solid(ellipse_sdf(xx, yy, hx, hy, ha, hb, hang), HU["myocardium"])
    paint(img, ellipse_sdf(xx, yy, hx, hy, 0.65 * ha, 0.6 * hb, hang), HU["blood"], px)
    solid(np.hypot(xx - anat.aorta[0], yy - anat.aorta[1]) - anat.aorta[2], HU["blood"])
    sx, sy, sr = anat.spine
    solid(ellipse_sdf(xx, yy, sx, sy + 24, 22, 8), HU["cortical_bone"])
    solid(np.hypot(xx - sx, yy - sy) - sr, HU["cortical_bone"])
    paint(img, np.hypot(xx - sx, yy - sy) - (sr - 1.5), HU["cancellous_bone"], px)
    paint(img, np.hypot(xx - sx, yy - (sy + sr + 6)) - 7, HU["spinal_cord"], px)
    return img, body, lung_id * (lung_cov >= 0.5), nodule_cov


def to_image_grid(a: np.ndarray, geom: ScannerGeometry) -> np.ndarray:
    """An object-grid image (``oversample`` x the matrix over the scan field) on the reconstructed image's
    grid: the mean of each ``oversample`` x ``oversample`` block for the whole field; for a smaller
    reconstruction field, a box prefilter of the image pixel's width and linear interpolation at its pixel
    centres (an approximation of the pixel's area mean, within a few HU of it at edges)."""
    a = np.asarray(a, np.float64)
    n, k = geom.image_size, geom.oversample
    if geom.recon_fov_mm is None or geom.recon_fov_mm == geom.fov_mm:
        return a.reshape(n, k, n, k).mean(axis=(1, 3))
    ratio = geom.pixel_mm / geom.object_pixel_mm
    smooth = ndi.uniform_filter(a, size=max(1, int(round(ratio))), mode="nearest")
    idx = (geom.recon_centres_mm() + geom.fov_mm / 2) / geom.object_pixel_mm - 0.5
    rows, cols = np.meshgrid(idx, idx, indexing="ij")
    return ndi.map_coordinates(smooth, [rows, cols], order=1, mode="nearest")


def make_phantom(seed: int, n_slices: int = 8, kind: str | None = None, arms: bool | None = None,
                 table: bool = True, geom: ScannerGeometry = FORCE, nodules_inside: bool = False,
                 outline: Outline | None = None, sub_slice_mm: float = SUB_SLICE_MM) -> Phantom:
    """Build phantom ``seed`` with ``n_slices`` contiguous slices (``geom.slice_thickness_mm`` apart and thick).

    Nodule centres are drawn over a 60 mm (or the slab's, if longer) span around the slab, so many lie partly
    or wholly outside it; ``nodules_inside`` draws them where a 20 mm nodule still fits in the slab (for a
    nodule test set; it changes the random draws, so the phantom differs from the same seed without it).

    A slice thicker than ``sub_slice_mm`` is the mean of sub-slices spread evenly over its thickness (a
    rectangular slice profile), in the object and so in its ground truth: the z-blur of a thick slice. The
    default (``SUB_SLICE_MM``, 1 mm) keeps the named platform's 1 mm slices single sections; the widened
    platform averages every slice (0.5 mm sub-slices), as a scanner's slice sensitivity profile does.
    ``outline`` makes the outline irregular (see ``Outline``); its features come from their own generator,
    so without it (or with ``Outline()``) the phantom is the same as before they existed."""
    if n_slices < 1:
        raise ValueError("a phantom needs at least one slice")
    rng = np.random.default_rng(seed)
    kind = KINDS[int(rng.integers(0, 2))] if kind is None else kind
    if kind not in KINDS:
        raise ValueError(f"unknown phantom kind {kind!r}; choose one of {KINDS}")
    outline = Outline() if outline is None else outline
    dz = geom.slice_thickness_mm
    z = (np.arange(n_slices) - (n_slices - 1) / 2.0) * dz
    inside = max(1.0, n_slices * dz - 20.0) / 0.8 if nodules_inside else None   # centres within +-0.4 span
    anat = _anatomy(rng, kind, arms, table, z_span=max(60.0, n_slices * dz), nodule_z_span=inside,
                    size=outline.size)
    if outline != Outline():
        _irregular(np.random.default_rng([seed, 104729]), anat, outline)
    n, k = geom.image_size, geom.oversample
    x = geom.pixel_centres_mm(n * k)
    # sub-slices across each slice's thickness; texture fields on the GT grid over all of them (3-D
    # correlated), upsampled to the projector grid
    subs = max(1, int(np.ceil(dz / sub_slice_mm - 1e-9)))
    offsets = ((np.arange(subs) + 0.5) / subs - 0.5) * dz
    sig_z = subs / dz
    tex = 30.0 * smooth_field(rng, (n_slices * subs, n, n), (sig_z, 1.5, 1.5))
    emph_field = smooth_field(rng, (n_slices * subs, n, n), (sig_z * 2, 1.0 * anat.emphysema.blob_mm / geom.grid_pixel_mm,
                                                             anat.emphysema.blob_mm / geom.grid_pixel_mm))
    obj = np.empty((n_slices, n * k, n * k), np.float32)
    gt = np.empty((n_slices, n, n), np.float32)
    body = np.zeros((n_slices, n, n), np.uint8)
    lung = np.zeros((n_slices, n, n), np.uint8)
    nod = np.zeros((n_slices, n, n), np.uint8)
    xg, yg = np.meshgrid(x, x)
    threshold = None
    for i, zi in enumerate(z):
        img, b, lungs, ncov = 0.0, 0.0, [0.0, 0.0], [0.0] * len(anat.nodules)
        for j, off in enumerate(offsets):
            zs = float(zi + off)
            t_fine = zoom(tex[i * subs + j], k, order=1)
            score = zoom(emph_field[i * subs + j], k, order=1)
            weight = np.zeros_like(score)
            for lg in anat.lungs:
                weight = np.maximum(weight, anat.emphysema.weight(xg, yg, lg[1:3], lg[3:5]) *
                                    (anat.lung_sdf(lg, xg, yg, zs) < 0))
            score = score + 2.5 * np.log(np.clip(weight, 1e-3, None))
            if threshold is None:
                inside = weight > 0
                threshold = np.quantile(score[inside], 1 - anat.emphysema.severity) if inside.any() else np.inf
            emph = (score > threshold).astype(np.float64)
            im, bj, lid, nc = _slice(anat, x, zs, t_fine, emph, geom.object_pixel_mm)
            img, b = img + im / subs, b + bj / subs
            lungs = [lungs[s] + (lid == s + 1) / subs for s in range(2)]
            ncov = [a + c / subs for a, c in zip(ncov, nc)]
        obj[i] = img
        gt[i] = to_image_grid(img, geom)
        body[i] = to_image_grid(b, geom) >= 0.5
        for s in range(2):
            lung[i][to_image_grid(lungs[s], geom) >= 0.5] = s + 1
        for j, c in enumerate(ncov, start=1):
            nod[i][to_image_grid(np.asarray(c, np.float64), geom) >= 0.5] = j
    params = {
        "kind": kind, "body_axes_mm": [anat.a, anat.b], "arms": len(anat.arms) > 0, "table": table,
        "emphysema": None if anat.emphysema is None else {
            "severity": anat.emphysema.severity, "distribution": anat.emphysema.distribution,
            "blob_mm": anat.emphysema.blob_mm, "bullae": len(anat.emphysema.bullae)},
        "nodules": [{"centre_mm": n_.centre.tolist(), "diameter_mm": n_.diameter_mm, "part_solid": n_.part_solid,
                     "spiculation": n_.spiculation} for n_ in anat.nodules],
        "vessel_segments": len(anat.vessels), "airway_segments": len(anat.airways),
        "slice_thickness_mm": dz, "outline": asdict(outline),
    }
    return Phantom(seed, kind, z, obj, gt, body, lung, nod, params)


def disc_object(radius_mm: float, centre_mm: tuple[float, float] = (0.0, 0.0), hu_inside: float = 0.0,
                hu_outside: float = HU["air"], geom: ScannerGeometry = FORCE) -> np.ndarray:
    """A uniform cylinder (e.g. water in air) on the projector grid ``(2n, 2n)``: the edge/noise test object."""
    x = geom.pixel_centres_mm(geom.object_size)
    xx, yy = np.meshgrid(x, x)
    img = np.full(xx.shape, hu_outside)
    paint(img, np.hypot(xx - centre_mm[0], yy - centre_mm[1]) - radius_mm, hu_inside, geom.object_pixel_mm)
    return img
