"""The widened platform measured like a scanner: each kernel's MTF on an edge against its prescription,
edge enhancement above 1, iterative noise moving to low frequencies, noise against dose and thickness,
thick slices blurring along z, and every draw recorded."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import DISC_CENTRE, DISC_RADIUS, disc_distance

from physics.esf import binned_esf, mtf_from_esf
from physics.kernel_table import model_mtf
from simulation.geometry import FORCE
from simulation.kernel_family import VENDOR_LIKE, draw_kernel, family_kernel, vendor_like
from simulation.phantom import disc_object
from simulation.scanner import scan_slice

ROOT = Path(__file__).resolve().parents[1]
F = np.linspace(0.05, 0.85, 17)

# the family's ends, an edge-enhancing member and two vendor-like edge-enhancing shapes
EDGE_KERNELS = [family_kernel(0.2), family_kernel(0.25, 1.6), family_kernel(0.85), family_kernel(0.5, 2.4, 0.3, 0.5),
                vendor_like("GE-like BONE"), vendor_like("Philips-like L"), vendor_like("GE-like STANDARD")]


@pytest.fixture(scope="module")
def edge_mtfs():
    """Each kernel's MTF through the whole chain, from a noise-free water disc's radial ESF."""
    imgs = scan_slice(disc_object(DISC_RADIUS, DISC_CENTRE, hu_inside=0.0), [None], EDGE_KERNELS, 0, 0)
    d, _ = disc_distance()
    near = np.abs(d) < 12
    return {k.name: mtf_from_esf(*binned_esf(d[near], imgs[(None, k.name)][near])) for k in EDGE_KERNELS}


@pytest.mark.parametrize("kernel", EDGE_KERNELS, ids=lambda k: k.name)
def test_kernel_reaches_its_prescribed_mtf_through_the_chain(edge_mtfs, kernel):
    curve = edge_mtfs[kernel.name]
    prescribed = model_mtf(F, kernel.f50_base, kernel.shape, kernel.boost, kernel.boost_at)
    assert np.abs(curve.sample(F) - prescribed).max() < 0.04
    assert abs(curve.f50 / kernel.f50 - 1) < 0.03, (curve.f50, kernel.f50)


def test_edge_enhancing_kernels_measure_above_one_and_plain_ones_do_not(edge_mtfs):
    for k in EDGE_KERNELS:
        peak = edge_mtfs[k.name].mtf.max()
        if k.boost:
            assert peak > 1.05 and abs(peak - k.peak) < 0.03, (k.name, peak, k.peak)
        else:
            assert peak < 1.01, (k.name, peak)


def test_family_spans_softer_and_sharper_than_the_named_kernels():
    rng = np.random.default_rng(0)
    f50 = np.array([draw_kernel(rng).f50 for _ in range(400)])
    assert f50.min() < 0.25 and f50.max() > 0.8          # named kernels: 0.32-0.69
    assert ((f50 < 0.32) | (f50 > 0.69)).mean() > 0.3
    assert len({vendor_like(n).dicom_kernel[0] for n in VENDOR_LIKE}) == len(VENDOR_LIKE)


@pytest.fixture(scope="module")
def water_noise():
    """Noisy 20 cm water discs: iterative strengths at one dose, doses and thicknesses at FBP."""
    disc = disc_object(DISC_RADIUS, DISC_CENTRE, hu_inside=0.0)
    base = family_kernel(0.5)
    strengths = [replace(base, name=f"s{s}", strength=float(s)) for s in (0, 2, 5)]
    out = {("strength", s.strength): img for s, img in
           zip(strengths, scan_slice(disc, [5.0], strengths, 3, 0).values())}
    for dose in (0.5, 20.0):
        out[("dose", dose)] = scan_slice(disc, [dose], [base], 4, 0)[(dose, base.name)]
    thick = replace(FORCE, slice_thickness_mm=4.0)
    out[("thick", 4.0)] = scan_slice(disc, [5.0], [base], 5, 0, thick)[(5.0, base.name)]
    out[("thick", 1.0)] = out[("strength", 0.0)]
    return out


def _nps_mean_frequency(img: np.ndarray) -> float:
    """Mean radial frequency of the NPS of 64x64 ROIs in the disc's uniform centre."""
    from physics.noise import nps_from_rois

    c = 256
    rois = np.stack([img[c + dy - 32:c + dy + 32, c + dx - 32:c + dx + 32] for dy in (-40, 0, 40) for dx in (-40, 0, 40)])
    n2 = nps_from_rois(rois, (FORCE.pixel_mm, FORCE.pixel_mm))
    f = np.fft.fftshift(np.fft.fftfreq(64, FORCE.pixel_mm))
    fr = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    return float((fr * n2).sum() / n2.sum())


def test_iterative_strength_moves_noise_to_low_frequencies(water_noise):
    sd = [water_noise[("strength", s)][200:312, 200:312].std() for s in (0.0, 2.0, 5.0)]
    f_mean = [_nps_mean_frequency(water_noise[("strength", s)]) for s in (0.0, 2.0, 5.0)]
    assert sd[0] > sd[1] > sd[2], sd
    assert f_mean[0] > 1.05 * f_mean[1] > 1.05 * f_mean[2], f_mean


def test_noise_scales_with_dose_and_slice_thickness(water_noise):
    roi = np.s_[200:312, 200:312]
    low, high = water_noise[("dose", 0.5)][roi].std(), water_noise[("dose", 20.0)][roi].std()
    assert abs(low / high / np.sqrt(40.0) - 1) < 0.10, (low, high)
    thin, thick = water_noise[("thick", 1.0)][roi].std(), water_noise[("thick", 4.0)][roi].std()
    assert abs(thin / thick / 2.0 - 1) < 0.10, (thin, thick)


def _edge_width_mm(gt: np.ndarray, row: int, start: int) -> float:
    """Distance (mm) between the 10 % and 50 % levels of the air-to-tissue step along ``row``, outwards from
    column ``start`` inside the body: 0.4 x the width of a linear ramp."""
    prof = gt[row, start:]
    out = int(np.argmax(prof < -995))
    vals = np.maximum.accumulate(prof[out - 8:out + 1][::-1])        # from air inwards, made monotone
    xs = (np.arange(out - 8, out + 1) * FORCE.pixel_mm)[::-1]
    return float(np.interp(-900.0, vals, xs) - np.interp(-550.0, vals, xs))


def test_thick_slice_blurs_the_sloping_skin_along_z():
    """The body's outline widens by 0.3 % of its half-axis per mm along z: a 5 mm slice averages outlines
    0.015 a apart (2-2.7 mm for a = 140-180 mm), a linear ramp whose 10-50 % levels lie 0.4 x that apart;
    a 1 mm slice holds a sharp step (one partial-volume pixel)."""
    from simulation.phantom import Outline, make_phantom

    thin = make_phantom(21, 1, kind="copd", outline=Outline(), arms=False)
    thick = make_phantom(21, 1, kind="copd", outline=Outline(), arms=False, geom=replace(FORCE, slice_thickness_mm=5.0))
    a = thin.params["body_axes_mm"][0]
    rows = np.nonzero(thin.body[0].any(axis=1))[0]
    row = int(rows[len(rows) // 2])
    start = int(np.nonzero(thin.body[0][row])[0].mean())
    w_thin, w_thick = _edge_width_mm(thin.gt_hu[0], row, start), _edge_width_mm(thick.gt_hu[0], row, start)
    assert w_thin < 0.7 * FORCE.pixel_mm, w_thin          # one partial-volume pixel
    assert 0.75 * 0.4 * 0.015 * a < w_thick < 1.3 * 0.4 * 0.015 * a, (w_thick, 0.4 * 0.015 * a)
    assert abs(thick.gt_hu[0][thick.body[0] > 0].mean() - thin.gt_hu[0][thin.body[0] > 0].mean()) < 15


@pytest.mark.slow      # a wide dataset simulated twice: make test-slow
def test_wide_dataset_records_every_draw_and_its_command_rebuilds_it(tmp_path):
    from simulation.__main__ import build_parser
    from simulation.dataset import dataset_command

    r = subprocess.run([sys.executable, "-m", "simulation", "dataset", "--out", str(tmp_path), "--phantoms", "1",
                        "--slices", "1", "--seed", "4100", "--platform", "wide", "--renditions", "3"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "manifest.json").read_text())
    entry = m["phantoms"][0]
    meta = json.loads((tmp_path / entry["folder"] / "renditions.json").read_text())
    assert len(meta) == 3 == len(entry["renditions"]) and meta == entry["renditions"]
    for rendition in meta:
        assert 0.5 <= rendition["dose_mgy"] <= 20 and 0.2 <= rendition["f50_per_mm"] <= 0.95
        assert set(rendition["kernel_params"]) >= {"f50_base_per_mm", "shape", "boost", "iterative_strength"}
    params = json.loads((tmp_path / entry["folder"] / "params.json").read_text())
    assert params["slice_thickness_mm"] == entry["slice_thickness_mm"] and params["outline"] == entry["outline"]
    vols = np.load(tmp_path / entry["folder"] / "renditions.npy")
    assert vols.shape == (3, 1, 512, 512)
    args = build_parser().parse_args(dataset_command(tmp_path).split()[3:])
    assert (args.platform, args.renditions, args.seed, args.phantoms) == ("wide", 3, 4100, 1)


def test_a_targeted_field_of_view_reconstructs_the_same_object_on_smaller_pixels():
    """300 mm on the 512 matrix (0.59 mm pixels) from the same 500 mm scan: the disc's edge lies where its
    radius says in the new pixels, its f50 is the kernel's (a property of the kernel in cycles/mm), and a smooth
    kernel's noise is the same (band-limited below both Nyquist frequencies)."""
    from evaluation.mtf_accuracy import disc_edge_f50

    kernel = family_kernel(0.35)
    disc = disc_object(DISC_RADIUS, DISC_CENTRE, hu_inside=0.0)
    zoomed = replace(FORCE, recon_fov_mm=300.0)
    assert zoomed.pixel_mm == pytest.approx(300.0 / 512)
    clean = {g.recon_field_mm: scan_slice(disc, [None], [kernel], 0, 0, g)[(None, kernel.name)] for g in (FORCE, zoomed)}
    f50 = {fov: disc_edge_f50(img, g, DISC_CENTRE, DISC_RADIUS) for (fov, img), g in zip(clean.items(), (FORCE, zoomed))}
    assert f50[300.0] == pytest.approx(f50[500.0], rel=0.03)
    x = zoomed.recon_centres_mm()
    r = np.hypot(*np.meshgrid(x - DISC_CENTRE[0], x - DISC_CENTRE[1]))
    assert np.abs(clean[300.0][r < DISC_RADIUS - 5]).mean() < 5          # water inside, where the geometry says
    assert clean[300.0][(r > DISC_RADIUS + 5) & (r < DISC_RADIUS + 20)].mean() < -990     # air outside
    noisy = {g.recon_field_mm: scan_slice(disc, [5.0], [kernel], 9, 0, g)[(5.0, kernel.name)] for g in (FORCE, zoomed)}
    sd500 = noisy[500.0][200:312, 200:312].std()
    sd300 = noisy[300.0][r < 50].std()
    assert sd300 == pytest.approx(sd500, rel=0.10)


def test_the_ground_truth_follows_a_targeted_field():
    """A phantom made for a 300 mm field: its truth is the 500 mm truth's centre on the finer grid (compared
    after resampling the 500 mm truth there), and its body label the 500 mm body's centre."""
    from scipy import ndimage as ndi

    from simulation.phantom import make_phantom

    zoomed = replace(FORCE, recon_fov_mm=300.0)
    full, part = make_phantom(5, 1, arms=False, geom=FORCE), make_phantom(5, 1, arms=False, geom=zoomed)
    assert np.array_equal(full.object_hu, part.object_hu)                  # the same object, another grid
    idx = (zoomed.recon_centres_mm() + 250.0) / FORCE.pixel_mm - 0.5
    rows, cols = np.meshgrid(idx, idx, indexing="ij")
    expected = ndi.map_coordinates(full.gt_hu[0].astype(float), [rows, cols], order=1)
    inside = ndi.binary_erosion(part.body[0] > 0, iterations=4)
    assert np.abs(part.gt_hu[0] - expected)[inside].mean() < 15
    assert np.median(part.gt_hu[0] - expected) == pytest.approx(0, abs=1)


@pytest.mark.parametrize("kvp, bone_hu, fat_hu", [(80.0, 1630.0, -120.0), (140.0, 840.0, -95.0)])
def test_known_materials_read_their_ct_numbers_at_each_tube_voltage(kvp, bone_hu, fat_hu):
    """Bone and fat discs scanned through the kVp-mapped object read the CT numbers the attenuation ratios
    give (cortical bone 1000 HU and fat -100 HU at 120 kVp); water and air stay at 0 and -1000."""
    from simulation.materials import hu_at_kvp

    kernel = family_kernel(0.35)
    for hu120, expected in ((1000.0, bone_hu), (-100.0, fat_hu), (0.0, 0.0)):
        disc = disc_object(DISC_RADIUS, DISC_CENTRE, hu_inside=hu120)
        img = scan_slice(hu_at_kvp(disc, kvp), [None], [kernel], 0, 0)[(None, kernel.name)]
        d, _ = disc_distance()
        assert np.median(img[d < -20]) == pytest.approx(expected, abs=0.01 * abs(expected) + 2)
        assert np.median(img[(d > 20) & (d < 60)]) == pytest.approx(-1000.0, abs=2)
