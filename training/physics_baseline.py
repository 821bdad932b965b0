"""The physics baseline harmonizer: MTF-ratio restoration toward a target MTF (paper Eq. 2), Wiener-regularised.

Same signature as the network, so the app treats both alike:

    G(image, mtf2d) -> image
    image: (B, 1, H, W) float, normalised as (HU + 1024) / 2048
    mtf2d: (B, 1, 64, 64) float, the input's 2-D MTF, zero frequency at the centre, radius 32 = Nyquist

In the Fourier domain each slice is multiplied by W = T M / (M^2 + lambda), rescaled to 1 at zero frequency
(HU of large regions are kept) and capped at ``max_gain``, where M is the measured MTF read off ``mtf2d`` at
every frequency and T the target MTF exp(-ln 2 (f / f50)^p). Where the input is sharper than the target this
smooths (and lowers noise); where it is smoother it restores, as far as lambda lets noise through.
Frequencies are in units of the image's own Nyquist frequency; the target's f50 = 0.68 Nyquist is 0.35/mm at
the 0.977 mm pixels of a 500 mm field (a Br36-like reference: smooth kernels at regular dose give the most
accurate density biomarkers, paper §II.D).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .spectral import radial_frequency, sample_on_rfft


class PhysicsBaseline(nn.Module):
    def __init__(self, target_f50: float = 0.684, target_power: float = 2.0, noise_reg: float = 0.02,
                 max_gain: float = 3.0, pad: int = 32):
        super().__init__()
        self.target_f50 = target_f50
        self.target_power = target_power
        self.noise_reg = noise_reg
        self.max_gain = max_gain
        self.pad = pad

    def forward(self, image: torch.Tensor, mtf2d: torch.Tensor) -> torch.Tensor:
        x = image.float()
        b, _, h, w = x.shape
        p = min(self.pad, h - 1, w - 1)
        if p > 0:
            x = F.pad(x, (p, p, p, p), mode="reflect")
        hp, wp = h + 2 * p, w + 2 * p
        m = sample_on_rfft(mtf2d, hp, wp).clamp(min=0.0)
        r = radial_frequency(hp, wp, x.device)
        t = torch.exp(-0.6931471805599453 * (r / self.target_f50) ** self.target_power)
        wiener = t * m / (m * m + self.noise_reg)
        wiener = wiener / wiener[:, :, :1, :1].clamp(min=1e-6)
        wiener = wiener.clamp(max=self.max_gain)
        y = torch.fft.irfft2(torch.fft.rfft2(x) * wiener, s=(hp, wp))
        return y[:, :, p:p + h, p:p + w].to(image.dtype)
