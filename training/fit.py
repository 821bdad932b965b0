"""``python -m training fit --config CONFIG.yaml``: adversarial training of the harmonizer (or the U-Net
ablation) on the simulator's data, on CPU or GPUs, resumable.

Every ``checkpoint_every`` steps ``run_dir/checkpoint.pt`` is replaced atomically with the generator,
critic, both optimisers and schedulers, the step, the sampler's and torch's RNG states and the wall time, so
a rerun of the same command continues where the last one stopped and reaches the same state as an
uninterrupted run. ``run_dir/log.csv`` gets one line per step; validation (full 512x512 slices of the
validation phantoms: SSIM, PSNR, NRMSE against GT, see physics/image_quality.py) every ``validate_every`` steps
goes to ``run_dir/validation.csv`` and the best generator (lowest NRMSE, or lowest ``select_by`` metric) to
``run_dir/best.pt``.

Multi-GPU: ``torchrun --nproc_per_node=N -m training fit --config ...`` (DistributedDataParallel; each rank
draws its own patches; rank 0 writes checkpoints and logs).
"""
from __future__ import annotations

import copy
import csv
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from .data import HU_OFFSET, HU_SCALE, PatchSampler, load_split, normalise, validation_slices
from .losses import gradient_penalty, huber, lung_density_terms, texture_extractor, texture_loss
from .networks import Discriminator, GeneratorConfig, HarmonizerGenerator, UNetAblation, xavier_init


def load_config(path: Path) -> dict:
    cfg = yaml.safe_load(Path(path).read_text())
    cfg["config_path"] = str(path)
    return cfg


def build_generator(cfg: dict) -> torch.nn.Module:
    if cfg.get("model", "harmonizer") == "unet":
        return UNetAblation(tuple(cfg.get("unet_features", (12, 24, 48, 96))))
    g = cfg.get("generator", {})
    return HarmonizerGenerator(GeneratorConfig(features=tuple(g.get("features", (12, 24, 48, 96))),
                                               spectral_channels=g.get("spectral_channels", 8),
                                               omega_channels=g.get("omega_channels", 16),
                                               post_channels=g.get("post_channels", 32),
                                               shift_invariant=g.get("shift_invariant", False),
                                               fft_size=g.get("fft_size", 0)))


def _save_atomic(obj, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


class Trainer:
    def __init__(self, cfg: dict, device: torch.device | None = None, rank: int = 0, world: int = 1):
        self.cfg, self.rank, self.world = cfg, rank, world
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(cfg["seed"])
        self.run_dir = Path(cfg["run_dir"])
        self.G = build_generator(cfg).to(self.device)
        self.D = Discriminator().to(self.device)
        xavier_init(self.G)
        xavier_init(self.D)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg["lr"], betas=(0.5, 0.999))
        cyc = dict(base_lr=cfg["lr"], max_lr=cfg.get("max_lr", 5 * cfg["lr"]), step_size_up=cfg.get("cycle_steps", 500),
                   mode="triangular2", cycle_momentum=False)
        self.sched_g = torch.optim.lr_scheduler.CyclicLR(self.opt_g, **cyc)
        self.sched_d = torch.optim.lr_scheduler.CyclicLR(self.opt_d, **cyc)
        self.features, self.features_note = texture_extractor(cfg.get("texture_features"))
        self.features = self.features.to(self.device)
        self.step, self.wall_s, self.best_score = 0, 0.0, float("inf")
        self.train_sampler = None
        self.model_g = self.G
        # ema_decay: an exponential moving average of the generator's weights is what validation measures and
        # best.pt keeps (the lung biases of single checkpoints 250 steps apart differ by about their own size)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if cfg.get("ema_decay") else None
        if world > 1:
            self.model_g = torch.nn.parallel.DistributedDataParallel(self.G)
            self.D = torch.nn.parallel.DistributedDataParallel(self.D)

    # ---- data -------------------------------------------------------------------------------------------
    def attach_data(self, train=None, val=None) -> None:
        cfg, aug = self.cfg, self.cfg.get("augment", {})
        train = train if train is not None else load_split(cfg["data"], "train")
        self.val = val if val is not None else load_split(cfg["data"], "val")
        self.train_sampler = PatchSampler(train, cfg["patch"], cfg["seed"] + 7919 * self.rank,
                                          aug.get("affine_prob", 0.2), aug.get("noise_std", 0.005),
                                          aug.get("contrast_prob", 0.2), aug.get("mtf_noise", 0.01))
        self.val_items = validation_slices(self.val, cfg.get("validation_slices", 6))

    # ---- state ------------------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"step": self.step, "wall_s": self.wall_s, "best_score": self.best_score,
                "G": self.G.state_dict(), "D": _plain(self.D).state_dict(),
                "G_ema": self.G_ema.state_dict() if self.G_ema is not None else None,
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "sched_g": self.sched_g.state_dict(), "sched_d": self.sched_d.state_dict(),
                "sampler": self.train_sampler.state() if self.train_sampler else None,
                "torch_rng": torch.get_rng_state(), "config": self.cfg,
                "texture_features": self.features_note}

    def load_state(self, st: dict) -> None:
        self.step, self.wall_s = st["step"], st["wall_s"]
        self.best_score = st.get("best_score", st.get("best_nrmse"))   # runs before select_by saved best_nrmse
        self.G.load_state_dict(st["G"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(st.get("G_ema") or st["G"])
        _plain(self.D).load_state_dict(st["D"])
        self.opt_g.load_state_dict(st["opt_g"])
        self.opt_d.load_state_dict(st["opt_d"])
        self.sched_g.load_state_dict(st["sched_g"])
        self.sched_d.load_state_dict(st["sched_d"])
        if st.get("sampler") and self.train_sampler:
            self.train_sampler.load_state(st["sampler"])
        torch.set_rng_state(st["torch_rng"])

    def resume(self) -> bool:
        ck = self.run_dir / "checkpoint.pt"
        if not ck.exists():
            return False
        self.load_state(torch.load(ck, map_location=self.device, weights_only=False))
        return True

    def warm_start(self, path: Path, critic: bool | str = False) -> None:
        """Start from another run's generator weights (``init_from`` in the config: a best.pt or checkpoint.pt),
        and its critic too with ``init_critic: true`` (to go on with an adversarial phase without a critic that
        knows nothing), or the critic of another file with ``init_critic: PATH`` (a best.pt holds no critic);
        the step count, optimisers and schedules start afresh."""
        st = torch.load(path, map_location=self.device, weights_only=False)
        self.G.load_state_dict(st["G"])
        if self.G_ema is not None:
            self.G_ema.load_state_dict(st["G"])
        if critic:
            if not isinstance(critic, bool):
                st = torch.load(critic, map_location=self.device, weights_only=False)
            _plain(self.D).load_state_dict(st["D"])

    # ---- one step ---------------------------------------------------------------------------------------
    def train_step(self, batch: dict) -> dict:
        cfg, L = self.cfg, self.cfg["loss"]
        dev = self.device
        x, y, lung, mtf = (batch[k].to(dev) for k in ("input", "gt", "lung", "mtf2d"))
        adversarial = self.step >= L.get("adversarial_start", 0)
        logs = {}
        if adversarial:
            with torch.no_grad():
                fake = self.model_g(x, mtf)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss = self.D(x, fake).mean() - self.D(x, y).mean()
            gp = gradient_penalty(self.D, x, y, fake)
            (d_loss + L["gp_lambda"] * gp).backward()
            torch.nn.utils.clip_grad_norm_(self.D.parameters(), cfg["grad_clip"])
            self.opt_d.step()
            self.sched_d.step()
            logs.update(critic=float(d_loss.detach()), gp=float(gp.detach()))
        self.opt_g.zero_grad(set_to_none=True)
        out = self.model_g(x, mtf)
        dist = huber(out, y, L["huber_delta"])
        loss = L["huber_weight"] * dist
        if L.get("lung_cdf_weight", 0.0) or L.get("lung_hu_weight", 0.0):      # beyond the paper: off unless set
            cdf, lung_hu = lung_density_terms(out, y, lung, tuple(L.get("lung_cdf_hu", (-950.0,))),
                                              L.get("lung_cdf_tau_hu", 5.0),
                                              per_image=L.get("lung_density_per_image", False))
            loss = loss + L.get("lung_cdf_weight", 0.0) * cdf + L.get("lung_hu_weight", 0.0) * lung_hu
            logs.update(lung_cdf=float(cdf.detach()), lung_hu=float(lung_hu.detach()))
        if adversarial:
            adv = -self.D(x, out).mean()
            tex = texture_loss(self.features, out, y, lung)
            loss = loss + L["adversarial_weight"] * adv + L["texture_weight"] * tex
            logs.update(adversarial=float(adv.detach()), texture=float(tex.detach()))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.G.parameters(), cfg["grad_clip"])
        self.opt_g.step()
        self.sched_g.step()
        if self.G_ema is not None:
            with torch.no_grad():
                for e, w in zip(self.G_ema.state_dict().values(), self.G.state_dict().values()):
                    if e.is_floating_point():
                        e.lerp_(w, 1.0 - self.cfg["ema_decay"])      # e <- decay e + (1 - decay) w
                    else:
                        e.copy_(w)
        self.step += 1
        logs.update(step=self.step, loss=float(loss.detach()), huber=float(dist.detach()),
                    lr=self.sched_g.get_last_lr()[0])
        return logs

    # ---- validation -------------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        """Mean SSIM, PSNR, NRMSE over the validation slices, and the lung biomarkers' absolute bias (LAA-950 in
        %, mean lung HU, and the two summed in units of the paper's targets), over the slices' lungs pooled and
        slice by slice averaged (``*_mean_abs_*``, ``lung_bias_per_slice_in_targets``)."""
        from physics.image_quality import image_metrics
        from physics.mtf import mtf_2d

        net = self.G_ema if self.G_ema is not None else self.G
        net.eval()
        rows, lung_out, lung_gt, per_slice = [], [], [], []
        for p, k, r in self.val_items:
            ph = self.val[p]
            x = torch.from_numpy(normalise(ph.renditions[r, k]))[None, None].to(self.device)
            m = torch.from_numpy(mtf_2d(ph.mtf[r]))[None, None].to(self.device)
            out = net(x, m)[0, 0].cpu().numpy() * HU_SCALE - HU_OFFSET
            rows.append(image_metrics(out, ph.gt[k]))
            lung = ph.lung[k] > 0
            lung_out.append(out[lung])
            lung_gt.append(np.asarray(ph.gt[k], np.float32)[lung])
            if lung.sum() >= 64:
                per_slice.append(_lung_biases(lung_out[-1], lung_gt[-1]))
        self.G.train()
        metrics = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
        lo, lg = np.concatenate(lung_out), np.concatenate(lung_gt)
        if lg.size:
            # pooled over the validation slices, where a lung too light in one and too dense in another cancel
            metrics["laa950_abs_bias_percent"], metrics["lung_hu_abs_bias"] = _lung_biases(lo, lg)
            # both in units of paper Table I's targets: |dLAA-950| 0.23 %, |dmass| 0.1 g (about 0.6 HU of mean
            # lung density in these phantoms' 130-200 ml of lung)
            metrics["lung_bias_in_targets"] = (metrics["laa950_abs_bias_percent"] / 0.23
                                               + metrics["lung_hu_abs_bias"] / 0.6)
        if per_slice:
            # slice by slice, then averaged: what the evaluation does over renditions, nothing cancels
            laa, hu = np.mean(per_slice, axis=0)
            metrics.update(laa950_mean_abs_bias_percent=float(laa), lung_hu_mean_abs_bias=float(hu),
                           lung_bias_per_slice_in_targets=float(laa / 0.23 + hu / 0.6))
        return metrics

    # ---- loop -------------------------------------------------------------------------------------------
    def fit(self, show_progress: bool = True) -> None:
        from tqdm import tqdm

        cfg = self.cfg
        if self.train_sampler is None:
            self.attach_data()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        resumed = self.resume()
        main = self.rank == 0
        if main:
            (self.run_dir / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
        bar = tqdm(total=cfg["steps"], initial=self.step, disable=not (show_progress and main), unit="step",
                   desc="resumed" if resumed else "training")
        if not resumed and cfg.get("init_from"):
            self.warm_start(Path(cfg["init_from"]), critic=cfg.get("init_critic", False))
            if main:
                self._validate(bar.write)     # step 0: the warm start is a candidate for best.pt too
        log_path = self.run_dir / "log.csv"
        t0 = time.time()
        while self.step < cfg["steps"]:
            logs = self.train_step(self.train_sampler.batch(cfg["batch"]))
            if main:
                _append_csv(log_path, logs, LOG_FIELDS)
                bar.update(1)
                bar.set_postfix(loss=f"{logs['loss']:.3f}", huber=f"{logs['huber']:.2e}")
            if main and (self.step % cfg.get("validate_every", 500) == 0 or self.step == cfg["steps"]):
                self._validate(bar.write)
            if main and (self.step % cfg.get("checkpoint_every", 100) == 0 or self.step == cfg["steps"]):
                self.wall_s += time.time() - t0
                t0 = time.time()
                _save_atomic(self.state(), self.run_dir / "checkpoint.pt")
        bar.close()

    def _validate(self, write) -> None:
        """Validate, log to validation.csv, and keep the generator in best.pt when its ``select_by`` metric
        (lower is better; NRMSE unless the config says) is the lowest yet."""
        metrics = self.validate()
        _append_csv(self.run_dir / "validation.csv", {"step": self.step, **metrics})
        write(f"step {self.step}: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
        score = metrics[self.cfg.get("select_by", "nrmse_percent")]
        if score < self.best_score:
            self.best_score = score
            kept = self.G_ema if self.G_ema is not None else self.G
            _save_atomic({"G": kept.state_dict(), "config": self.cfg, "step": self.step, "validation": metrics,
                          "texture_features": self.features_note}, self.run_dir / "best.pt")


def _lung_biases(lung_out: np.ndarray, lung_gt: np.ndarray) -> tuple[float, float]:
    """|d LAA-950| (%) and |d mean lung HU| between two sets of lung HU values (physics.biomarkers; mean lung HU
    as lung mass per lung volume, (HU + 1024) / 1024 g/ml)."""
    from physics.biomarkers import lung_biomarkers

    every = np.ones(lung_gt.shape, bool)       # the values are the lungs already; voxel volume 1 mm^3
    bo, bg = lung_biomarkers(lung_out, every, 1.0), lung_biomarkers(lung_gt, every, 1.0)
    return (abs(bo["laa950_percent"] - bg["laa950_percent"]),
            1024.0 * abs(bo["lung_mass_g"] - bg["lung_mass_g"]) / bg["lung_volume_ml"])


def _plain(module):
    return module.module if isinstance(module, torch.nn.parallel.DistributedDataParallel) else module


LOG_FIELDS = ["step", "loss", "huber", "adversarial", "texture", "critic", "gp", "lung_cdf", "lung_hu", "lr"]


def _append_csv(path: Path, row: dict, fields: list[str] | None = None) -> None:
    """One row; a file that exists keeps its header (a run resumed by a newer version logs the old columns)."""
    new = not path.exists()
    if not new:
        with open(path, newline="") as f:
            fields = next(csv.reader(f), None) or fields
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields or list(row), restval="", extrasaction="ignore")
        if new:
            w.writeheader()
        w.writerow(row)


def hardware() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}"


def run(config_path: Path) -> None:
    cfg = load_config(config_path)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    device = None
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local)
            device = torch.device("cuda", local)
    torch.set_num_threads(int(cfg.get("threads", torch.get_num_threads())))
    Trainer(cfg, device, rank, world).fit()
    if world > 1:
        torch.distributed.destroy_process_group()
