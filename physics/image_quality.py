"""Image-quality metrics of a harmonized slice against its ground truth, as this project defines them, and the
network's HU normalisation they are measured in (training and evaluation both use them).

All three work on images normalised like the network's input, x = (HU + 1024) / 2048, clipped to [0, 1]
(-1024 .. 1024 HU, the range of the chest's soft tissue, lungs and air; bone above 1024 HU saturates), over
the whole 2-D slice:

- SSIM: MONAI's SSIMMetric, Gaussian window (11 pixels, sigma 1.5), data range 1, K1 0.01, K2 0.03.
- PSNR (dB): 10 log10(1 / MSE), data range 1.
- NRMSE (%): 100 ||x - x_gt||_2 / ||x_gt||_2 (the Euclidean normalisation, as scikit-image's default).
"""
from __future__ import annotations

import numpy as np
import torch

HU_OFFSET, HU_SCALE = 1024.0, 2048.0      # the network's input and output: (HU + 1024) / 2048


def network_normalise(hu) -> np.ndarray:
    """HU to the network's units, float32."""
    return ((np.asarray(hu, dtype=np.float32) + HU_OFFSET) / HU_SCALE).astype(np.float32)


def normalise(hu) -> torch.Tensor:
    """The network's normalisation, clipped to [0, 1]."""
    return torch.as_tensor(network_normalise(hu)).clamp(0.0, 1.0)


def image_metrics(image_hu, gt_hu) -> dict:
    """{"ssim", "psnr_db", "nrmse_percent"} of one 2-D slice (or the mean over a stack of slices)."""
    from monai.metrics import SSIMMetric

    x, g = normalise(image_hu), normalise(gt_hu)
    x, g = x.reshape((-1, 1) + x.shape[-2:]), g.reshape((-1, 1) + g.shape[-2:])
    ssim = torch.as_tensor(SSIMMetric(spatial_dims=2, data_range=1.0, win_size=11, kernel_sigma=1.5)(x, g))
    mse = ((x - g) ** 2).mean(dim=(1, 2, 3))
    psnr = 10 * torch.log10(1.0 / mse.clamp(min=1e-12))
    nrmse = 100 * torch.sqrt(((x - g) ** 2).sum(dim=(1, 2, 3)) / (g**2).sum(dim=(1, 2, 3)).clamp(min=1e-12))
    return {"ssim": float(ssim.mean()), "psnr_db": float(psnr.mean()), "nrmse_percent": float(nrmse.mean())}
