"""Frequency-domain helpers shared by the physics baseline and the network: where each rfft2 coefficient of an
(H, W) image falls on a centred 2-D frequency map such as the 64x64 MTF map (radius 32 = Nyquist)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rfft_grid(h: int, w: int, device: torch.device, map_size: int = 64) -> torch.Tensor:
    """``(1, h, w // 2 + 1, 2)`` grid_sample coordinates (x, y) of the rfft2 frequencies on a centred
    ``map_size`` map whose pixel ``map_size // 2 + k`` holds frequency ``k / (map_size // 2)`` Nyquist."""
    fy = torch.fft.fftfreq(h, device=device) * 2.0          # in units of Nyquist
    fx = torch.fft.rfftfreq(w, device=device) * 2.0
    gy, gx = torch.meshgrid(fy, fx, indexing="ij")
    # pixel i sits at (2 i + 1) / n - 1 (align_corners=False); frequency u sits at i = n/2 + (n/2) u
    return (torch.stack([gx, gy], dim=-1) + 1.0 / map_size).unsqueeze(0)


def sample_on_rfft(freq_map: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Read a centred ``(B, C, n, n)`` frequency map at the rfft2 frequencies of an (h, w) image:
    ``(B, C, h, w // 2 + 1)``; beyond the map's edge (the corners past Nyquist) the edge value is used."""
    grid = rfft_grid(h, w, freq_map.device, freq_map.shape[-1]).expand(freq_map.shape[0], -1, -1, -1)
    return F.grid_sample(freq_map.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)


def radial_frequency(h: int, w: int, device: torch.device) -> torch.Tensor:
    """``(h, w // 2 + 1)`` |f| of the rfft2 coefficients, in units of Nyquist."""
    fy = torch.fft.fftfreq(h, device=device) * 2.0
    fx = torch.fft.rfftfreq(w, device=device) * 2.0
    gy, gx = torch.meshgrid(fy, fx, indexing="ij")
    return torch.sqrt(gx * gx + gy * gy)
