"""An external validation set: the project's phantoms rendered by an independent CT simulator, XCIST.

XCIST (``gecatsim``, GE's open CT simulator: polychromatic spectrum, bowtie, third-generation fan-beam
geometry with a curved detector, focal-spot and detector-cell sampling, quantum and electronic noise, water
beam-hardening correction, FDK reconstruction) scans each phantom slice in its own way; nothing of this
project's scanner model (``simulation.scanner``) is used. The phantom's HU map at 120 kVp is handed over as
two materials: water at density ``1 + HU/1000`` up to 100 HU, and above it a mixture of water and ICRU
cortical bone whose fraction grows with HU, so bone hardens the beam as it does in a patient.

Renditions: ``MAS`` (nominal CTDIvol labels from the simulated scanner's 6.5 mGy per 100 mAs) x XCIST's
kernels ``soft``, ``standard``, ``bone`` (edge-enhancing), ``S-L`` (Shepp-Logan), ``R-L`` (the bare ramp)
and ``soft2`` (the soft window applied twice: smoother than anything the named kernels hold). Each kernel's
f50 is measured on a noise-free 20 cm water disc scanned the same way (``kernel_f50.json``): the renditions'
nominal f50. XCIST's resolution varies with where an edge lies (``kernel_f50_by_radius``) and with its
direction. Each phantom's ``reference_f50_per_mm`` in the manifest is the discs' f50 at the distance of
its skin's tangent lines from the isocentre (discs of 10-17.5 cm radius): radial edges only.
``own_edge_f50_per_mm`` is each kernel's f50 at the phantom's own skin, from its middle slice scanned
without noise against the object (``own_edge_f50s``; ``mtf-accuracy --own-edge`` scores against it): it
holds the direction too, but structures within a millimetre of the 10 mm reach move it by up to 3 % for
the smoothest kernels. The layout is a
simulator dataset's (``simulation.dataset``), every phantom in the test split, so ``python -m evaluation
report --data DIR`` scores it like the held-out set. It is never to be trained on or used to choose. A set
made with ``split="val"`` from other seeds (every phantom in the val split) is the one to choose by where
XCIST's kernels are concerned.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np

KERNELS = ("soft2", "soft", "standard", "S-L", "bone", "R-L")
MAS = {1.3: 20.0, 6.5: 100.0}            # nominal CTDIvol (mGy) -> mAs at 1 s per rotation
BONE_HU = 1900.0                          # ICRU cortical bone (1.92 g/cm^3) at 120 kVp, about
SOFT_LIMIT_HU = 100.0
VIEWS = 984
WATER_MU_PER_CM = 0.2                     # XCIST's water beam-hardening correction target; recon HU scale
SUB_SLICE_MM = 0.25                       # each slice the mean of the phantom's sections this far apart
REFERENCE_RADII_MM = (100.0, 125.0, 150.0, 175.0)   # water discs on which each kernel's f50 is measured


OWN_EDGE = "own_edge_f50.json"   # per phantom: each kernel's f50 at its own skin (``own_edge_f50s``)
NOISE_FREE = "noise_free.npz"    # per phantom: its middle slice scanned without noise, each kernel


def material_maps(hu: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(water density, bone fraction) maps of an HU image (120 kVp values): see the module notes."""
    hu = np.asarray(hu, np.float64)
    frac = np.clip((hu - SOFT_LIMIT_HU) / (BONE_HU - SOFT_LIMIT_HU), 0.0, 1.0)
    water = np.where(hu > SOFT_LIMIT_HU, 1.0 - frac, np.clip(1.0 + hu / 1000.0, 0.0, None))
    return water.astype(np.float32), frac.astype(np.float32)


def _write_voxel_phantom(folder: Path, hu: np.ndarray, pixel_mm: float) -> Path:
    n = hu.shape[0]
    names = []
    for label, arr in zip(("water", "bone"), material_maps(hu)):
        name = f"phantom_{label}_{n}x{n}x1.raw"
        arr.tofile(folder / name)
        names.append(name)
    vp = {"n_materials": 2, "mat_name": ["water", "ICRU_skeleton_cortical_bone_adult"],
          "volumefractionmap_filename": names, "volumefractionmap_datatype": ["float", "float"],
          "cols": [n, n], "rows": [n, n], "slices": [1, 1], "x_size": [pixel_mm] * 2, "y_size": [pixel_mm] * 2,
          "z_size": [10.0] * 2, "x_offset": [n / 2 + 0.5] * 2, "y_offset": [n / 2 + 0.5] * 2, "z_offset": [1.0] * 2}
    path = folder / "phantom.json"
    path.write_text(json.dumps(vp))
    return path


@contextmanager
def _soft2_kernel():
    """Add ``soft2`` to XCIST's kernels for the length of the block: its ``soft`` filter times the soft window."""
    import gecatsim.reconstruction.pyfiles.fdk_equiAngle as fdk
    from scipy.interpolate import interp1d

    original = fdk.createHSP

    def create(length, kernel_type):
        if kernel_type != "soft2":
            return original(length, kernel_type)
        f = original(length, "soft")
        window = interp1d([0, 0.25, 0.5, 0.75, 1], [1, 0.815, 0.4564, 0.1636, 0], kind="quadratic")
        w = np.ones(2 * length)
        i = np.arange(length)
        w[i] = window(i / length)
        w[2 * length - i - 1] = window(i / length)
        return f * w

    fdk.createHSP = create
    try:
        yield
    finally:
        fdk.createHSP = original


def xcist_scan(hu: np.ndarray, pixel_mm: float, mas: float | None, kernels=KERNELS, seed: int = 0,
               work: Path | None = None, bhc_cache: Path | None = None) -> dict[str, np.ndarray]:
    """One slice (an HU image on a square grid centred at the isocentre) scanned by XCIST at ``mas`` (None:
    without noise) and reconstructed with each kernel on 512 x 512 over 500 mm: ``{kernel: HU (512, 512)}``."""
    import gecatsim as xc
    import gecatsim.reconstruction.pyfiles.recon as recon

    with tempfile.TemporaryDirectory(dir=None if work is None else Path(work).resolve()) as tmp:
        tmp = Path(tmp).resolve()
        bhc_cache = None if bhc_cache is None else Path(bhc_cache).resolve()
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            np.random.seed(seed)          # XCIST draws its noise from numpy's global generator
            ct = xc.CatSim()
            ct.phantom.callback = "Phantom_Voxelized"
            ct.phantom.projectorCallback = "C_Projector_Voxelized"
            ct.phantom.filename = str(_write_voxel_phantom(tmp, hu, pixel_mm))
            ct.phantom.centerOffset = [0.0, 0.0, 0.0]
            ct.phantom.scale = 1.0
            ct.resultsName = str(tmp / "scan")
            ct.scanner.detectorRowsPerMod = ct.scanner.detectorRowCount = 1
            ct.scanner.detectorRowSize = 1.0
            ct.protocol.viewsPerRotation = ct.protocol.viewCount = VIEWS
            ct.protocol.stopViewId = VIEWS - 1
            ct.protocol.mA = 100.0 if mas is None else float(mas)
            ct.physics.rowSampleCount = ct.physics.srcYSampleCount = 1    # one 1 mm row: no z sampling needed
            ct.physics.enableQuantumNoise = ct.physics.enableElectronicNoise = int(mas is not None)
            ct.physics.callback_post_log = "Prep_BHC_Accurate"
            ct.physics.EffectiveMu = WATER_MU_PER_CM
            ct.physics.BHC_poly_order, ct.physics.BHC_max_length_mm, ct.physics.BHC_length_step_mm = 5, 400, 10
            if bhc_cache is not None:     # the correction depends on the scanner only: computed once, kept
                ct.physics.BHC_vec_fname = str(bhc_cache)
                if not Path(bhc_cache).exists():
                    import gecatsim.pyfiles.Prep_BHC_Accurate as bhc
                    original = bhc.gen_BHC_vec

                    def keep(cfg):
                        coef = original(cfg)
                        np.save(bhc_cache, coef)
                        return coef
                    bhc.gen_BHC_vec = keep
            ct.run_all()
            out = {}
            with _soft2_kernel():
                for k in kernels:
                    ct.recon.fov, ct.recon.imageSize, ct.recon.sliceCount, ct.recon.sliceThickness = 500.0, 512, 1, 1.0
                    ct.recon.kernelType = k
                    ct.recon.mu = WATER_MU_PER_CM / 10.0
                    ct.recon.saveImageVolume, ct.recon.printReconParameters = True, False
                    ct.do_Recon = 1
                    recon.recon(ct)
                    out[k] = xc.rawread(f"{ct.resultsName}_512x512x1.raw", [1, 512, 512], "float")[0].astype(np.float32)
        finally:
            os.chdir(cwd)
    return out


def kernel_f50s(kernels=KERNELS, work: Path | None = None, radius_mm: float | None = None) -> dict[str, float]:
    """Each kernel's f50 (cycles/mm) through XCIST, from a noise-free water disc's radial ESF (radius
    ``DISC_RADIUS_MM`` unless given)."""
    from simulation.geometry import FORCE
    from simulation.phantom import disc_object

    from .mtf_accuracy import DISC_CENTRE_MM, DISC_RADIUS_MM, disc_edge_f50

    radius = DISC_RADIUS_MM if radius_mm is None else float(radius_mm)
    imgs = xcist_scan(disc_object(radius, DISC_CENTRE_MM, 0.0), FORCE.object_pixel_mm, None, kernels,
                      work=work, bhc_cache=None if work is None else Path(work) / "bhc.npy")
    return {k: disc_edge_f50(img, radius_mm=radius) for k, img in imgs.items()}


def kernel_f50_by_radius(out: Path, kernels=KERNELS) -> dict:
    """Each kernel's f50 on discs of ``REFERENCE_RADII_MM``, kept in ``out/kernel_f50_by_radius.json`` (a disc
    already there is not scanned again): ``{"radii_mm": [...], "f50_per_mm": {kernel: [...]}}``.

    XCIST's fan beam resolves an edge more finely the nearer its tangent rays pass to the source: an edge
    whose tangent line lies at ``p`` mm from the isocentre is seen at ``sqrt(SID^2 - p^2)`` from it, and the
    kernel (a filter over the detector's angle) scales with that distance. Measured: f50 1.2-2.1 % higher at
    150 mm than at 100 mm, against under 1 % of change on this project's simulator."""
    from .mtf_accuracy import DISC_RADIUS_MM

    path, nominal = Path(out) / "kernel_f50_by_radius.json", Path(out) / "kernel_f50.json"
    table: dict[float, dict[str, float]] = {}
    if path.exists():
        known = json.loads(path.read_text())
        table = {r: {k: v[i] for k, v in known["f50_per_mm"].items()} for i, r in enumerate(known["radii_mm"])}
    if DISC_RADIUS_MM not in table and nominal.exists():    # the nominal disc, measured already
        table[DISC_RADIUS_MM] = json.loads(nominal.read_text())
    for r in REFERENCE_RADII_MM:
        if r not in table or any(k not in table[r] for k in kernels):
            table[r] = kernel_f50s(kernels, out, r)
        radii = sorted(table)
        path.write_text(json.dumps({"radii_mm": radii, "f50_per_mm": {k: [table[x][k] for x in radii]
                                                                      for k in kernels}}, indent=1))
    return json.loads(path.read_text())


def _skin_points(img: np.ndarray, geom, reach_mm: float = 10.0):
    """The body's outline on one slice ``img`` (HU on ``geom``'s image grid): (points (n, 2) in mm from the
    isocentre as (x, y), outward unit normals (n, 2), arc lengths (n,), True where air lies outside for
    ``reach_mm``: where the skin-air MTF is read)."""
    from scipy import ndimage as ndi
    from skimage.measure import find_contours

    from physics.masks import body_mask_2d

    x = geom.recon_centres_mm()
    step = geom.pixel_mm
    body = ndi.gaussian_filter(body_mask_2d(img, pixel_mm=step).astype(np.float64), 1.0)
    pts, normals, lengths, airs = [], [], [], []
    for c in find_contours(body, 0.5):
        mid, d = 0.5 * (c[1:] + c[:-1]), np.diff(c, axis=0)
        seg = np.hypot(d[:, 0], d[:, 1])
        ok = seg > 0
        mid, d, seg = mid[ok], d[ok], seg[ok]
        normal = np.stack([d[:, 1], -d[:, 0]], axis=1) / seg[:, None]          # (row, col)
        probe = ndi.map_coordinates(body, (mid + 2.0 * normal).T, order=1, mode="nearest")
        normal[probe > 0.5] *= -1                                               # outwards
        steps = np.arange(1.0, reach_mm + 0.5, 1.0) / step
        outside = ndi.map_coordinates(img, [mid[:, :1] + normal[:, :1] * steps, mid[:, 1:] + normal[:, 1:] * steps],
                                      order=1, mode="nearest")
        pts.append(np.stack([x[0] + mid[:, 1] * step, x[0] + mid[:, 0] * step], axis=1))
        normals.append(normal[:, ::-1])
        lengths.append(seg * step)
        airs.append((outside < -900.0).all(axis=1))
    if not pts:
        return np.empty((0, 2)), np.empty((0, 2)), np.empty(0), np.empty(0, bool)
    return np.concatenate(pts), np.concatenate(normals), np.concatenate(lengths), np.concatenate(airs)


def skin_tangent_mm(gt_hu: np.ndarray, geom=None, reach_mm: float = 10.0) -> float:
    """Median distance from the isocentre of the skin's tangent lines, by arc length over the outline of the
    body where air lies outside it for ``reach_mm`` (where the skin-air MTF is read), on the phantom's own
    noise-free slices ``(K, rows, cols)`` on ``geom``'s image grid. That distance sets XCIST's resolution at
    the edge (``kernel_f50_by_radius``)."""
    from simulation.geometry import FORCE

    dist, length = [], []
    for img in np.asarray(gt_hu, np.float32).reshape((-1,) + gt_hu.shape[-2:]):
        pts, normal, seg, air = _skin_points(img, geom or FORCE, reach_mm)
        dist.append(np.abs((pts[air] * normal[air]).sum(axis=1)))
        length.append(seg[air])
    if not sum(map(len, dist)):
        return float("nan")
    return float(np.quantile(np.concatenate(dist), 0.5, weights=np.concatenate(length), method="inverted_cdf"))


def _edge_mtf(distance_mm: np.ndarray, values: np.ndarray):
    """The whole LSF's MTF (both halves, every bin as it is: no mirror, no plateau, no taper) of noise-free
    edge samples: a linear map of the samples, so that a scan's over its object's is the scanner's transfer."""
    from physics.esf import binned_esf, mtf_from_esf
    from physics.mtf import REACH_MM

    return mtf_from_esf(*binned_esf(distance_mm, values, half_width_mm=REACH_MM), tail_mm=REACH_MM)


def ideal_edge_mtf(geom=None):
    """The MTF of an ideal straight edge as a voxel phantom holds it and the image grid reads it
    (``simulation.phantom.to_image_grid``): a painted water disc on the image grid, its radial ESF. What an
    edge of the phantom carries into the scan before the scanner blurs it."""
    from simulation.geometry import FORCE
    from simulation.phantom import disc_object, to_image_grid

    from .mtf_accuracy import DISC_CENTRE_MM, DISC_RADIUS_MM, disc_distance_mm

    geom = geom or FORCE
    obj = to_image_grid(disc_object(DISC_RADIUS_MM, DISC_CENTRE_MM, 0.0, geom=geom), geom)
    d = disc_distance_mm(obj.shape[-1], geom)
    near = np.abs(d) < 12
    return _edge_mtf(d[near], obj[near])


def own_edge_f50s(scans: dict[str, np.ndarray], object_hu: np.ndarray, geom=None) -> dict[str, float]:
    """Each kernel's f50 at a phantom's own skin: noise-free scans of one slice (``{kernel: HU}``, image grid)
    against the slice's object (``object_hu``, object grid).

    The skin-air estimator's own profiles and distances (``physics.mtf``) are read on each scan, and the
    object is read at the same pixels; the scan's edge spectrum over the object's is the scanner's transfer
    at that skin, whatever lies under it (fat) and however the outline bends; times the ideal edge's
    (``ideal_edge_mtf``), it is what the estimate should read there. XCIST's resolution depends on where an
    edge lies and on its direction, so a disc's edge describes a body's skin only in part. The LSFs are cut
    at the profiles' reach (10 mm): a structure under the skin within about a millimetre of it (muscle under
    thin fat) moves the result, by up to 3 % for the smoothest kernels."""
    from physics.esf import MTFCurve
    from physics.mtf import STATS, _edge_samples
    from simulation.geometry import FORCE
    from simulation.phantom import to_image_grid

    geom = geom or FORCE
    obj = to_image_grid(object_hu, geom).astype(np.float32)
    ideal = ideal_edge_mtf(geom)
    out = {}
    for kernel, img in scans.items():
        img = np.asarray(img, np.float32)
        read = [_edge_samples(img, (geom.pixel_mm, geom.pixel_mm), dict.fromkeys(STATS, 0), values_from=v)
                for v in (None, obj)]
        if read[0] is None:
            out[kernel] = float("nan")
            continue
        seen, known = (_edge_mtf(r[0], r[1]) for r in read)
        f = seen.frequencies_per_mm
        out[kernel] = MTFCurve(f, seen.mtf / np.maximum(known.mtf, 1e-6) *
                               np.interp(f, ideal.frequencies_per_mm, ideal.mtf)).f50
    return out


def reference_f50s(gt_hu: np.ndarray, by_radius: dict) -> tuple[float, dict[str, float]]:
    """(the skin's tangent distance, each kernel's f50 there, interpolated between the measured discs)."""
    p = skin_tangent_mm(gt_hu)
    return p, {k: float(np.interp(p, by_radius["radii_mm"], v)) for k, v in by_radius["f50_per_mm"].items()}


def make_external_set(out: Path, seeds: list[tuple[int, str]], n_slices: int = 4, kernels=KERNELS,
                      doses=tuple(MAS), sub_slice_mm: float = SUB_SLICE_MM, split: str = "test",
                      jobs: int = 1, progress=print) -> dict:
    """Create (or resume) the external set: phantoms ``[(seed, kind)]`` x doses x kernels, every slice.

    Each 1 mm slice XCIST scans is the phantom averaged over its thickness (sections ``sub_slice_mm`` apart,
    ``simulation.phantom.make_phantom``), as a scanner's slice profile averages it: a skin that slopes along
    z is blurred in the slice as in a real one. A single section extruded along z (``sub_slice_mm`` 1) holds
    an edge sharper than its neighbours say it should be. ``jobs`` phantoms are rendered at once, one process
    each (XCIST scans on one core); a phantom's folder appears when it is finished, so a rerun continues."""
    from simulation.geometry import FORCE

    unknown = sorted(set(doses) - set(MAS))
    if unknown:
        raise ValueError(f"no tube current known for {unknown} mGy: the doses are {sorted(MAS)}")
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    from .mtf_accuracy import DISC_RADIUS_MM

    by_radius = kernel_f50_by_radius(out, kernels)          # the discs first: the nominal f50 is the 100 mm one's
    f50_file = out / "kernel_f50.json"
    if not f50_file.exists():
        i = by_radius["radii_mm"].index(DISC_RADIUS_MM)
        f50_file.write_text(json.dumps({k: v[i] for k, v in by_radius["f50_per_mm"].items()}, indent=1))
    f50 = json.loads(f50_file.read_text())
    manifest = {"geometry": asdict(FORCE), "kernels": list(kernels), "doses_mgy": list(doses), "slices": n_slices,
                "simulator": "XCIST (gecatsim)", "mas": {str(d): MAS[d] for d in doses}, "split": split,
                "kernel_f50_per_mm": f50, "platform": "external", "sub_slice_mm": sub_slice_mm,
                "phantoms": [{"seed": s, "kind": k, "folder": f"phantom_{s:04d}", "split": split} for s, k in seeds]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    common = dict(n_slices=n_slices, kernels=tuple(kernels), sub_slice_mm=sub_slice_mm, progress=progress)
    _each_phantom(partial(_render_phantom, out, doses=tuple(doses), f50=f50, **common),
                  [(s, k) for s, k in seeds if not (out / f"phantom_{s:04d}" / "DONE").exists()], jobs)
    _each_phantom(partial(_own_edge_reference, out, **common),
                  [(s, k) for s, k in seeds if not (out / f"phantom_{s:04d}" / OWN_EDGE).exists()], jobs)
    for entry in manifest["phantoms"]:
        p, ref = reference_f50s(np.load(out / entry["folder"] / "gt.npy"), by_radius)
        entry["skin_tangent_mm"], entry["reference_f50_per_mm"] = round(p, 1), ref
        entry["own_edge_f50_per_mm"] = json.loads((out / entry["folder"] / OWN_EDGE).read_text())["f50_per_mm"]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _each_phantom(job, todo: list[tuple[int, str]], jobs: int) -> None:
    """``job(seed, kind)`` for each phantom, ``jobs`` at once in processes of their own (XCIST scans on one
    core)."""
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(jobs, len(todo)), mp_context=multiprocessing.get_context("spawn")) as pool:
            list(pool.map(job, *zip(*todo)))
    else:
        for seed, kind in todo:
            job(seed, kind)


def _own_edge_reference(out: Path, seed: int, kind: str, n_slices: int, kernels: tuple, sub_slice_mm: float,
                        progress=print) -> None:
    """The phantom's middle slice scanned without noise (kept in the phantom's ``NOISE_FREE``, and scanned
    again only without it), and each kernel's f50 at its skin (``own_edge_f50s``), kept in its ``OWN_EDGE``;
    each file is written whole or not at all."""
    from simulation.geometry import FORCE
    from simulation.phantom import make_phantom

    ph = make_phantom(seed, n_slices, kind=kind, nodules_inside=kind == "nodule", sub_slice_mm=sub_slice_mm)
    i = n_slices // 2
    folder = out / f"phantom_{seed:04d}"
    kept = folder / NOISE_FREE
    if kept.exists():
        with np.load(kept) as z:
            scans = {k: z[k] for k in kernels}
    else:
        scans = xcist_scan(ph.object_hu[i], FORCE.object_pixel_mm, None, kernels, work=out,
                           bhc_cache=out / "bhc.npy")
        np.savez_compressed(folder / "partial.npz", **scans)
        os.replace(folder / "partial.npz", kept)
    f50 = own_edge_f50s(scans, ph.object_hu[i])
    tmp = folder / (OWN_EDGE + ".partial")
    tmp.write_text(json.dumps({"slice": i, "f50_per_mm": f50}, indent=1))
    os.replace(tmp, folder / OWN_EDGE)
    progress(f"phantom {seed}: kernels at its own skin {f50}")


def _render_phantom(out: Path, seed: int, kind: str, n_slices: int, kernels: tuple, doses: tuple,
                    sub_slice_mm: float, f50: dict, progress=print) -> None:
    """Scan one phantom's slices at every dose and kernel; its folder appears whole (with ``DONE``) or not."""
    from simulation.geometry import FORCE
    from simulation.phantom import make_phantom

    folder = out / f"phantom_{seed:04d}"
    ph = make_phantom(seed, n_slices, kind=kind, nodules_inside=kind == "nodule", sub_slice_mm=sub_slice_mm)
    order = [(d, k) for d in doses for k in kernels]
    vols = np.empty((len(order), n_slices, 512, 512), np.float32)
    for i in range(n_slices):
        for d in doses:
            imgs = xcist_scan(ph.object_hu[i], FORCE.object_pixel_mm, MAS[d], kernels, seed=seed * 1000 + i,
                              work=out, bhc_cache=out / "bhc.npy")
            for r, (dd, k) in enumerate(order):
                if dd == d:
                    vols[r, i] = imgs[k]
            progress(f"phantom {seed} slice {i + 1}/{n_slices} at {d} mGy done")
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "gt.npy", np.rint(ph.gt_hu).astype(np.int16))
    np.save(tmp / "renditions.npy", np.clip(np.rint(vols), -1024, 3071).astype(np.int16))
    (tmp / "renditions.json").write_text(json.dumps(
        [{"kernel": k, "dose_mgy": d, "mas": MAS[d], "f50_per_mm": f50[k], "dicom_kernel": [k.upper()]}
         for d, k in order], indent=1))
    np.savez_compressed(tmp / "labels.npz", body=ph.body, lung=ph.lung, nodules=ph.nodules)
    (tmp / "params.json").write_text(json.dumps({"seed": seed, "z_mm": ph.z_mm.tolist(), **ph.params}, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    (folder / "DONE").write_text("ok\n")
