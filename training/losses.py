"""Training losses (paper Eq. 4-8): Huber distance, WGAN-GP adversarial, Gram-matrix texture on the lungs;
and, beyond the paper, an optional lung-density loss on the two biomarkers the pixel losses leave biased.

Texture features: the paper uses ImageNet VGG-19; nothing can be downloaded here, so a TorchScript feature
extractor given as ``texture_features`` in the config is used when a user has one (it must map (B, 1, H, W)
to a list of feature maps), and otherwise a fixed, randomly initialised (seed 0) three-layer convolutional
network, whose Gram matrices still capture texture statistics (Ustyuzhaninov et al., ICLR 2017). The model
card records which.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .data import HU_OFFSET, HU_SCALE


def huber(output: torch.Tensor, target: torch.Tensor, delta: float = 0.5) -> torch.Tensor:
    return F.huber_loss(output, target, delta=delta)


def gradient_penalty(critic, image: torch.Tensor, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP: (||grad D(x_hat)||_2 - 1)^2 at random interpolates of real and fake."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device)
    mixed = (eps * real + (1 - eps) * fake).requires_grad_(True)
    score = critic(image, mixed)
    grad, = torch.autograd.grad(score.sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


class RandomTextureFeatures(nn.Module):
    """Fixed random conv features: (B, 1, H, W) -> three maps of 32, 64, 64 channels (strides 1, 2, 4)."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.convs = nn.ModuleList([nn.Conv2d(1, 32, 3, padding=1), nn.Conv2d(32, 64, 3, stride=2, padding=1),
                                    nn.Conv2d(64, 64, 3, stride=2, padding=1)])
        for conv in self.convs:
            fan_in = conv.weight[0].numel()
            with torch.no_grad():
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * (2.0 / fan_in) ** 0.5)
                conv.bias.zero_()
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for conv in self.convs:
            x = F.relu(conv(x))
            feats.append(x)
        return feats


def texture_extractor(path: str | None) -> tuple[nn.Module, str]:
    if path:
        return torch.jit.load(str(Path(path))).eval(), f"TorchScript features from {path}"
    return RandomTextureFeatures().eval(), "fixed random 3-layer conv features (seed 0): no ImageNet VGG-19 here"


def gram(feature: torch.Tensor) -> torch.Tensor:
    b, c, h, w = feature.shape
    f = feature.flatten(2)
    return f @ f.transpose(1, 2) / (c * h * w)


def texture_loss(features: nn.Module, output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over layers of ||G(output) - G(target)||^2 / ||G(target)||^2, Gram matrices of the lung-masked
    images. Relative, so that its weight means the same whatever the feature extractor's scale (the paper's
    weight of 50 was set for VGG-19 features)."""
    loss = output.new_zeros(())
    for fo, ft in zip(features(output * mask), features(target * mask)):
        go, gt = gram(fo), gram(ft)
        loss = loss + ((go - gt) ** 2).sum() / ((gt**2).sum() + 1e-12)
    return loss


def lung_density_terms(output: torch.Tensor, target: torch.Tensor, lung: torch.Tensor,
                       thresholds_hu: tuple[float, ...] = (-950.0,), tau_hu: float = 5.0,
                       hu_offset: float = HU_OFFSET, hu_scale: float = HU_SCALE,
                       per_image: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Not in the paper: the lung HU histogram of output and target compared over the lung pixels, pooled over
    the batch or, with ``per_image``, image by image and the squares averaged (images (B, 1, H, W) normalised as
    (HU + hu_offset) / hu_scale). Pooled, a patch whose lung came out too light and one too dense cancel; per
    image they do not, as in the evaluation, which averages |bias| over renditions. Returns

    - the sum over ``thresholds_hu`` of (d share of lung pixels below the threshold, in %)^2: at -950 HU that
      share is LAA-950, and several thresholds pin the low tail's shape, where a shift of the whole lung
      would move them all; each step is a sigmoid of width ``tau_hu`` so that it has a gradient;
    - (d mean lung HU)^2: lung mass per lung volume (physics/biomarkers.py), 1 HU about 0.6 % of the mass.

    Images (or a batch) with fewer than 64 lung pixels count for nothing; zeros if none has more.
    """
    dims = tuple(range(1, output.dim())) if per_image else tuple(range(output.dim()))
    n = lung.sum(dims)
    keep = n >= 64
    if not bool(keep.any()):
        return output.new_zeros(()), output.new_zeros(())
    n = n.clamp(min=1.0)
    hu_out, hu_gt = output * hu_scale - hu_offset, target * hu_scale - hu_offset
    cdf = torch.zeros_like(n)
    for t in thresholds_hu:
        below_out = 100.0 * (torch.sigmoid((t - hu_out) / tau_hu) * lung).sum(dims) / n
        below_gt = 100.0 * (torch.sigmoid((t - hu_gt) / tau_hu) * lung).sum(dims) / n
        cdf = cdf + (below_out - below_gt) ** 2
    mean = ((hu_out - hu_gt) * lung).sum(dims) / n
    return cdf[keep].mean(), (mean**2)[keep].mean()
