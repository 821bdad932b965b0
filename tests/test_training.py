"""The harmonizer network and its training: shapes, TorchScript export, a real optimisation step, the MTF
input's effect, and resume giving the same state as an uninterrupted run."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from physics.kernel_table import model_mtf
from training.data import Phantom
from training.fit import Trainer
from training.networks import Discriminator, GeneratorConfig, HarmonizerGenerator, UNetAblation, xavier_init

TINY = GeneratorConfig(features=(4, 8), spectral_channels=2, omega_channels=4, post_channels=4)


def _phantoms(n=2, size=64, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    f = np.linspace(0, 0.512, 64)
    for _ in range(n):
        yy, xx = np.mgrid[0:size, 0:size]
        gt = np.where((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 2.5) ** 2, -850, -1000).astype(np.int16)
        gt = np.stack([gt, gt])
        ren = np.stack([gt + rng.normal(0, s, gt.shape) for s in (20, 60)]).astype(np.int16)
        body = np.ones_like(gt, np.uint8)
        out.append(Phantom(None, ren, gt, body, body, np.stack([model_mtf(f, 0.4), model_mtf(f, 0.6)]).astype(np.float32),
                           [{"kernel": "Br40f"}, {"kernel": "Br59f"}]))
    return out


def _cfg(tmp_path, steps=4, model="harmonizer"):
    return {"model": model, "generator": {"features": [4, 8], "spectral_channels": 2, "omega_channels": 4,
                                          "post_channels": 4}, "unet_features": [4, 8],
            "data": None, "run_dir": str(tmp_path / "run"), "seed": 3, "steps": steps, "batch": 2, "patch": 32,
            "lr": 1e-3, "max_lr": 2e-3, "cycle_steps": 10, "grad_clip": 1.0,
            "loss": {"huber_delta": 0.5, "huber_weight": 1000.0, "adversarial_weight": 1.0, "gp_lambda": 10.0,
                     "texture_weight": 50.0, "adversarial_start": 2},
            "checkpoint_every": 2, "validate_every": 100, "validation_slices": 1, "threads": 1}


@pytest.mark.parametrize("shape", [(2, 1, 64, 48), (1, 1, 37, 50)])
def test_shapes_and_dtypes(shape):
    g = HarmonizerGenerator(TINY).eval()
    y = g(torch.rand(shape), torch.rand(shape[0], 1, 64, 64))
    assert y.shape == shape and y.dtype == torch.float32
    d = Discriminator(8)
    assert d(torch.rand(2, 1, 64, 64), torch.rand(2, 1, 64, 64)).shape == (2, 1, 9, 9)


def test_spectral_mix_is_the_3d_convolution_of_eq_3():
    """Λ runs as a 2-D convolution over the stacked depth; torch's own Conv3d on the same weights agrees."""
    g = HarmonizerGenerator(TINY)
    xavier_init(g)
    torch.nn.init.normal_(g.lam.bias)
    stack = torch.randn(2, TINY.spectral_channels, 3, 24, 13)
    with torch.no_grad():
        assert torch.allclose(g.spectral_mix(stack), g.lam(stack)[:, :, 0], atol=1e-5)


def _impulse_responses(cfg, sizes=(64, 128, 256)):
    """The spectral stage's response to a unit impulse at the centre of each size of feature map (its
    feature-independent part, the response to zeros, taken away), in a 16x16 window around the impulse."""
    from physics.mtf import mtf_2d

    torch.manual_seed(0)
    g = HarmonizerGenerator(cfg)
    xavier_init(g)
    torch.nn.init.normal_(g.lam.bias)
    mtf = torch.from_numpy(mtf_2d(model_mtf(np.linspace(0, 0.512, 64), 0.4)).astype(np.float32))[None, None]
    out = []
    with torch.no_grad():
        for n in sizes:
            f = torch.zeros(1, cfg.spectral_channels, n, n)
            f[0, 0, n // 2, n // 2] = 1.0
            r = g.spectral(f, mtf) - g.spectral(torch.zeros_like(f), mtf)
            out.append(r[0, :, n // 2 - 8:n // 2 + 8, n // 2 - 8:n // 2 + 8])
    return out


def test_shift_invariant_spectral_stage_is_one_filter_for_a_patch_and_a_slice():
    """Linear systems: a per-frequency complex product on a fixed FFT grid is a convolution, so a patch and a
    larger image get the same point-spread function. The paper's form (free real mix of Re and Im, 3x3 reach
    across bins) is not: its conj(F) term reflects the features about the grid's origin."""
    fixed = replace(TINY, shift_invariant=True, fft_size=256)
    small, mid, big = _impulse_responses(fixed)
    assert torch.allclose(small, big, atol=1e-5 * big.abs().max()) and torch.allclose(mid, big, atol=1e-5 * big.abs().max())
    small, _, big = _impulse_responses(replace(TINY, fft_size=256))
    assert (small - big).abs().max() > 0.1 * big.abs().max()


@pytest.mark.parametrize("cfg", [TINY, replace(TINY, shift_invariant=True, fft_size=64)], ids=["paper", "shift-invariant"])
def test_torchscript_export_equals_eager(tmp_path, cfg):
    from training.export import export

    g = HarmonizerGenerator(cfg)
    xavier_init(g)
    card = export(g, tmp_path / "m", "test", "0.0.1", "tiny", provenance={})
    loaded = torch.jit.load(str(tmp_path / "m" / "model.ts"))
    x, m = torch.rand(2, 1, 40, 56), torch.rand(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x, m), g.eval()(x, m), atol=1e-6)
    assert json.loads((tmp_path / "m" / "model_card.json").read_text())["sha256"] == card["sha256"]


def test_block_norm_is_instance_norm_and_keeps_channels_last():
    from monai.networks.blocks import Convolution

    from training.networks import _conv_block

    block = _conv_block(3, 6)
    norm = next(m for m in block.modules() if isinstance(m, Convolution)).adn.N
    x = torch.randn(2, 6, 20, 24)
    assert torch.allclose(norm(x), torch.nn.functional.instance_norm(x), atol=1e-5)
    assert not list(norm.parameters())                 # no affine: v4's instance-norm weights load unchanged
    assert norm(x.contiguous(memory_format=torch.channels_last)).is_contiguous(memory_format=torch.channels_last)


def test_export_records_the_layout_to_run_in():
    from training.export import memory_format

    assert memory_format(HarmonizerGenerator(TINY)) == "channels_last"
    assert memory_format(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.InstanceNorm2d(4))) == "contiguous"
    assert memory_format(torch.nn.Linear(3, 3)) == "contiguous"


def test_the_mtf_input_changes_the_output():
    x = torch.rand(1, 1, 64, 64)
    sharp, smooth = torch.full((1, 1, 64, 64), 0.9), torch.full((1, 1, 64, 64), 0.2)
    g = HarmonizerGenerator(TINY)
    xavier_init(g)
    with torch.no_grad():
        assert (g(x, sharp) - g(x, smooth)).abs().max() > 1e-4
        ablation = UNetAblation((4, 8))
        assert torch.equal(ablation(x, sharp), ablation(x, smooth))   # a model that ignores the MTF fails the test


def test_one_optimisation_step_reduces_the_loss(tmp_path):
    t = Trainer(_cfg(tmp_path))
    t.attach_data(_phantoms(), _phantoms(1, seed=9))
    batch = t.train_sampler.batch(4)
    with torch.no_grad():
        before = float(torch.nn.functional.huber_loss(t.G(batch["input"], batch["mtf2d"]), batch["gt"], delta=0.5))
    t.train_step(batch)
    with torch.no_grad():
        after = float(torch.nn.functional.huber_loss(t.G(batch["input"], batch["mtf2d"]), batch["gt"], delta=0.5))
    assert after < before


def test_resume_reproduces_an_uninterrupted_run(tmp_path):
    straight = Trainer(_cfg(tmp_path / "a", steps=4))
    straight.attach_data(_phantoms(), _phantoms(1, seed=9))
    straight.fit(show_progress=False)

    first = Trainer(_cfg(tmp_path / "b", steps=2))
    first.attach_data(_phantoms(), _phantoms(1, seed=9))
    first.fit(show_progress=False)                       # stops at step 2 with a checkpoint, like an interruption
    second = Trainer(_cfg(tmp_path / "b", steps=4))
    second.attach_data(_phantoms(), _phantoms(1, seed=9))
    second.fit(show_progress=False)                      # resumes from the checkpoint
    assert second.step == straight.step == 4
    for (name, a), (_, b) in zip(straight.G.state_dict().items(), second.G.state_dict().items()):
        assert torch.equal(a, b), name
    rows = (tmp_path / "b" / "run" / "log.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("step,loss,huber")


def test_warm_start_takes_the_generator_and_the_critic_when_asked_and_counts_afresh(tmp_path):
    source = Trainer(_cfg(tmp_path / "a", steps=2))
    source.attach_data(_phantoms(), _phantoms(1, seed=9))
    source.fit(show_progress=False)
    cfg = dict(_cfg(tmp_path / "b", steps=0), init_from=str(tmp_path / "a" / "run" / "checkpoint.pt"), seed=99)
    warm = Trainer(cfg)
    warm.attach_data(_phantoms(), _phantoms(1, seed=9))
    warm.fit(show_progress=False)
    assert warm.step == 0
    for (name, a), (_, b) in zip(source.G.state_dict().items(), warm.G.state_dict().items()):
        assert torch.equal(a, b), name
    assert not torch.equal(source.D.state_dict()["net.0.weight"], warm.D.state_dict()["net.0.weight"])

    cfg = dict(_cfg(tmp_path / "c", steps=0), init_from=str(tmp_path / "a" / "run" / "checkpoint.pt"), seed=99,
               init_critic=True)
    with_critic = Trainer(cfg)
    with_critic.attach_data(_phantoms(), _phantoms(1, seed=9))
    with_critic.fit(show_progress=False)
    for (name, a), (_, b) in zip(source.D.state_dict().items(), with_critic.D.state_dict().items()):
        assert torch.equal(a, b), name
    # the warm start is validated at step 0 and is the best so far; a best.pt (no critic) takes another file's
    assert (tmp_path / "c" / "run" / "validation.csv").read_text().splitlines()[1].startswith("0,")
    assert torch.load(tmp_path / "c" / "run" / "best.pt", weights_only=False)["step"] == 0
    cfg = dict(_cfg(tmp_path / "d", steps=0), init_from=str(tmp_path / "c" / "run" / "best.pt"), seed=99,
               init_critic=str(tmp_path / "a" / "run" / "checkpoint.pt"))
    from_best = Trainer(cfg)
    from_best.attach_data(_phantoms(), _phantoms(1, seed=9))
    from_best.fit(show_progress=False)
    assert torch.equal(source.D.state_dict()["net.0.weight"], from_best.D.state_dict()["net.0.weight"])


def test_ema_generator_is_the_running_average_validated_and_kept(tmp_path):
    """ema_decay d: after steps with weights w1, w2, w3 from w0, the kept generator is
    d^3 w0 + d^2 (1-d) w1 + d (1-d) w2 + (1-d) w3; it is what best.pt holds, and it survives a resume."""
    cfg = dict(_cfg(tmp_path, steps=3), ema_decay=0.5, validate_every=3, checkpoint_every=1)
    t = Trainer(cfg)
    t.attach_data(_phantoms(), _phantoms(1, seed=9))
    name = "omega.0.weight"
    weights = [t.G.state_dict()[name].clone()]
    for _ in range(3):
        t.train_step(t.train_sampler.batch(2))
        weights.append(t.G.state_dict()[name].clone())
    w0, w1, w2, w3 = weights
    expected = 0.125 * w0 + 0.125 * w1 + 0.25 * w2 + 0.5 * w3
    assert torch.allclose(t.G_ema.state_dict()[name], expected, atol=1e-6)
    assert not torch.allclose(expected, w3)

    run = Trainer(dict(cfg, run_dir=str(tmp_path / "fit")))
    run.attach_data(_phantoms(), _phantoms(1, seed=9))
    run.fit(show_progress=False)
    best = torch.load(tmp_path / "fit" / "best.pt", weights_only=False)["G"][name]
    assert torch.equal(best, run.G_ema.state_dict()[name])
    again = Trainer(dict(cfg, run_dir=str(tmp_path / "fit")))
    again.attach_data(_phantoms(), _phantoms(1, seed=9))
    assert again.resume() and torch.equal(again.G_ema.state_dict()[name], run.G_ema.state_dict()[name])


def test_lung_density_terms_measure_laa950_and_mean_lung_hu():
    """Known answers: a target whose lung is half -1000 HU and half -900 HU has LAA-950 = 50 %; an output of
    -900 HU everywhere has 0 %, and a mean 50 HU higher; below -925 HU too the shares are 50 and 0 %, and
    below -850 HU both are 100 %. Outside the lung nothing counts."""
    from training.losses import lung_density_terms

    def norm(hu):
        return (torch.as_tensor(hu, dtype=torch.float32) + 1024.0) / 2048.0

    lung = torch.zeros(1, 1, 32, 32)
    lung[..., 8:24, :] = 1
    target = torch.full((1, 1, 32, 32), -900.0)
    target[..., 8:16, :] = -1000.0
    target[..., :8, :] = 40.0                        # not lung: any value
    output = torch.full((1, 1, 32, 32), -900.0)
    laa, lung_hu = lung_density_terms(norm(output), norm(target), lung)
    assert float(laa) == pytest.approx(50.0**2, rel=1e-3)
    assert float(lung_hu) == pytest.approx(50.0**2, rel=1e-4)
    cdf, _ = lung_density_terms(norm(output), norm(target), lung, thresholds_hu=(-950.0, -925.0, -850.0))
    assert float(cdf) == pytest.approx(2 * 50.0**2, rel=1e-2)     # -900 HU is only 5 sigmoid widths from -925
    laa, lung_hu = lung_density_terms(norm(target), norm(target), lung)
    assert float(laa) == 0 and float(lung_hu) == 0
    assert all(float(t) == 0 for t in lung_density_terms(norm(output), norm(target), torch.zeros_like(lung)))

    # their gradient moves the output towards the target's biomarkers
    out = norm(output + torch.randn(output.shape) * 30).requires_grad_(True)
    before = lung_density_terms(out, norm(target), lung)
    sum(before).backward()
    with torch.no_grad():
        stepped = out - 1e-7 * out.grad
    after = lung_density_terms(stepped, norm(target), lung)
    assert float(after[0]) < float(before[0].detach()) and float(after[1]) < float(before[1].detach())


def test_lung_density_terms_per_image_do_not_let_two_errors_cancel():
    """Known answers for a batch of two: one output's lung 20 HU too dense (nothing crosses -950 HU), the other's
    half read as -1000 HU (50 % of its lung below -950 HU, its mean 50 HU too light). Pooled, the mean errors
    partly cancel ((20 - 50) / 2 HU) and LAA-950 is off by 25 %; per image the terms are the mean of each
    image's squares ((20^2 + 50^2) / 2, (0^2 + 50^2) / 2). An image without lung counts for nothing."""
    from training.losses import lung_density_terms

    def norm(hu):
        return (torch.as_tensor(hu, dtype=torch.float32) + 1024.0) / 2048.0

    target = torch.full((3, 1, 32, 32), -900.0)
    lung = torch.zeros(3, 1, 32, 32)
    lung[:2, :, 8:24, :] = 1                                # image 2 has no lung
    output = target.clone()
    output[0] += 20.0                                       # 20 HU denser; nothing crosses -950 HU
    output[1, :, 8:16, :] = -1000.0                         # half its lung: 50 % below -950 HU, mean 50 HU lower
    pooled = lung_density_terms(norm(output), norm(target), lung)
    each = lung_density_terms(norm(output), norm(target), lung, per_image=True)
    assert float(pooled[1]) == pytest.approx(((20.0 - 50.0) / 2) ** 2, rel=1e-3)
    assert float(each[1]) == pytest.approx((20.0**2 + 50.0**2) / 2, rel=1e-3)
    assert float(pooled[0]) == pytest.approx(25.0**2, rel=1e-3)
    assert float(each[0]) == pytest.approx(50.0**2 / 2, rel=1e-3)
    alone = lung_density_terms(norm(output[1:2]), norm(target[1:2]), lung[1:2], per_image=True)
    assert float(alone[0]) == pytest.approx(50.0**2, rel=1e-3)
    assert all(float(t) == 0 for t in lung_density_terms(norm(output), norm(target), torch.zeros_like(lung),
                                                         per_image=True))


def test_lung_density_loss_joins_the_paper_losses_and_is_logged(tmp_path):
    cfg = _cfg(tmp_path, steps=1)
    cfg["loss"].update(lung_cdf_weight=0.005, lung_cdf_hu=[-950.0, -900.0], lung_hu_weight=0.005, adversarial_start=0)
    t = Trainer(cfg)
    t.attach_data(_phantoms(), _phantoms(1, seed=9))
    logs = t.train_step(t.train_sampler.batch(2))
    assert logs["lung_cdf"] >= 0 and logs["lung_hu"] >= 0
    assert {"adversarial", "texture", "critic", "gp"} <= set(logs)      # added to the paper's losses, not instead
    from training.export import _losses_used

    assert "not in the paper" in _losses_used(cfg, 1) and "not in the paper" not in _losses_used(_cfg(tmp_path), 1)
    assert "moving average" in _losses_used(dict(cfg, ema_decay=0.998), 1) and "moving average" not in _losses_used(cfg, 1)
    per_image = dict(cfg, loss=dict(cfg["loss"], lung_density_per_image=True))
    assert "image by image" in _losses_used(per_image, 1) and "image by image" not in _losses_used(cfg, 1)


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path):
    """DistributedDataParallel on CPU (gloo): two ranks train a tiny model on a tiny simulated dataset."""
    import os
    import subprocess
    import sys

    import yaml

    from simulation.dataset import make_dataset

    make_dataset(tmp_path / "data", n_phantoms=2, n_slices=1, first_seed=1000, kernels=("Br40f", "Br64f"),
                 show_progress=False)
    cfg = _cfg(tmp_path, steps=2)
    cfg.update(data=str(tmp_path / "data"), validate_every=2, config_path="tiny.yaml")
    # two phantoms are too few for the usual split: train on both, validate on the first again
    manifest = json.loads((tmp_path / "data" / "manifest.json").read_text())
    for p in manifest["phantoms"]:
        p["split"] = "train"
    manifest["phantoms"].append(dict(manifest["phantoms"][0], split="val"))
    (tmp_path / "data" / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(__import__("app_helpers").ROOT))
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "training",
                           "fit", "--config", str(tmp_path / "tiny.yaml")], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoint.pt").exists()


def _dataset_folder(root, seeds, split, kind=None):
    """A dataset folder as ``python -m simulation dataset`` leaves it, with tiny arrays instead of simulated ones."""
    root.mkdir()
    manifest = {"geometry": {"fov_mm": 32.0, "image_size": 32}, "slices": 1, "kind": kind, "split": split,
                "phantoms": [{"seed": s, "folder": f"phantom_{s:04d}", "split": split} for s in seeds]}
    (root / "manifest.json").write_text(json.dumps(manifest))
    for s in seeds:
        folder = root / f"phantom_{s:04d}"
        folder.mkdir()
        np.save(folder / "renditions.npy", np.full((2, 1, 32, 32), s, np.int16))
        np.save(folder / "gt.npy", np.full((1, 32, 32), s, np.int16))
        np.savez(folder / "labels.npz", body=np.ones((1, 32, 32), np.uint8), lung=np.ones((1, 32, 32), np.uint8))
        np.save(folder / "mtf.npy", np.ones((2, 64), np.float32))
        (folder / "renditions.json").write_text(json.dumps([{"kernel": "Br40f"}, {"kernel": "Br64f"}]))
        (folder / "DONE").write_text("")


def test_a_run_reads_the_phantoms_of_each_dataset_folder(tmp_path):
    """data: [A, B] trains on A's and B's train phantoms and validates on their val phantoms; the card names both
    folders with simulator commands that give back their manifests' seeds, kind and split."""
    from simulation.__main__ import build_parser
    from training.data import load_split
    from training.export import _datasets

    _dataset_folder(tmp_path / "a", [10, 11], "train")
    _dataset_folder(tmp_path / "b", [20, 21, 22], "train", kind="copd")
    _dataset_folder(tmp_path / "c", [30], "val", kind="copd")
    folders = [str(tmp_path / n) for n in "abc"]
    assert sorted(int(p.gt[0, 0, 0]) for p in load_split(folders, "train")) == [10, 11, 20, 21, 22]
    assert [int(p.gt[0, 0, 0]) for p in load_split(folders, "val")] == [30]
    assert len(load_split(str(tmp_path / "a"), "train")) == 2            # one folder, as before
    with pytest.raises(ValueError, match="no finished phantoms of split 'test'"):
        load_split(folders, "test")
    cards = _datasets(folders)
    assert [c["folder"] for c in cards] == folders
    args = build_parser().parse_args(cards[1]["simulator_command"].split()[3:])
    assert (args.out, args.phantoms, args.seed, args.kind, args.split) == (folders[1], 3, 20, "copd", "train")
    assert cards[2]["phantom_seeds_by_split"] == {"train": [], "val": [30], "test": []}
