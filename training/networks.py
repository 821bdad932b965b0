"""The physics-informed harmonizer (paper §II.B, Eq. 3), its discriminator and the U-Net ablation.

    G(I, MTF2D) = O( F^-1[ Lambda( F[Gamma(I)], Omega(MTF2D) ) ], I )

- Gamma: a 2-D U-Net whose blocks end in concurrent spatial and channel squeeze-and-excitation (scSE, Roy et
  al. 2018; the channel half is MONAI's ChannelSELayer), giving ``spectral_channels`` feature maps.
- Omega: two transposed convolutions lifting the (B, 1, 64, 64) MTF map to (B, spectral_channels, 256, 256), a
  centred frequency map read at every rfft2 frequency of the image (any image size, same Nyquist units).
- Lambda: a 3-D convolution over the stack [Re F * W, Im F * W, W] (depth 3, W = Omega's map at each
  frequency) giving the new real and imaginary parts: the MTF both filters the spectrum and enters the mix.
  ``shift_invariant``: the paper's form (3x3 reach across frequency bins, any real mix of the real and
  imaginary parts) is not a filter: mixing Re and Im freely adds a term in conj(F), the point reflection of the
  features about the grid's origin, and a 3x3 reach modulates them by a window the size of the grid. Both change
  meaning between a 128^2 training patch and a 512^2 slice (this project's v3 fitted its patches, 15 HU RMSE on
  128^2 crops, and not the same pixels inside a slice, 34 HU). Shift-invariant, Lambda is a per-frequency complex
  multiplication (kernel 3x1x1, the imaginary rows tied to the real ones) between an unnormalised FFT pair on a
  fixed ``fft_size`` grid (features zero-padded before the FFT, cropped after): one point-spread function for a
  patch and for a slice (tested).
- O: two convolutions on [inverse FFT, I] and a long attention path from the input image: the output is
  I + sigmoid(a(I)) * correction, so an untrained O starts near identity.

Images are normalised as (HU + 1024) / 2048 in and out. Shapes: image (B, 1, H, W), H and W even.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from monai.networks.blocks import ChannelSELayer, Convolution
from torch import nn

from .spectral import sample_on_rfft


@dataclass
class GeneratorConfig:
    features: tuple[int, ...] = (12, 24, 48, 96)     # U-Net widths per level (default: CPU-sized)
    spectral_channels: int = 8
    omega_channels: int = 16
    post_channels: int = 32
    shift_invariant: bool = False                    # Lambda as a filter (see the module notes); False: the paper's
    fft_size: int = 0                                # fixed FFT grid (zero-padding); 0: the image's own size


PAPER_CONFIG = GeneratorConfig(features=(56, 112, 224, 448, 896), spectral_channels=16, omega_channels=64,
                               post_channels=64)


class SpatialSE(nn.Module):
    """Spatial squeeze-and-excitation: a 1x1 convolution to one map, sigmoid, times the input."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class SCSE(nn.Module):
    """Concurrent spatial and channel SE (Roy et al. 2018), combined by the element-wise maximum."""

    def __init__(self, channels: int):
        super().__init__()
        self.channel = ChannelSELayer(2, channels, r=max(1, min(channels, 4)))
        self.spatial = SpatialSE(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(self.channel(x), self.spatial(x))


def _instance_norm(channels: int) -> tuple:
    """Instance norm (no affine), written as a group norm with one group per channel: the same numbers, and
    torch's group norm keeps a channels_last tensor as it is on the CPU where its instance norm copies it to
    channels-first and back (benchmarks/app_end_to_end.py). No parameters either way: weights load across."""
    return ("group", {"num_groups": channels, "affine": False})


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    """Two 3x3 conv + instance norm + leaky ReLU (MONAI Convolution), then scSE. (B, cin, H, W) -> (B, cout, H, W)."""
    act = ("leakyrelu", {"negative_slope": 0.1})
    return nn.Sequential(
        Convolution(2, cin, cout, kernel_size=3, act=act, norm=_instance_norm(cout)),
        Convolution(2, cout, cout, kernel_size=3, act=act, norm=_instance_norm(cout)),
        SCSE(cout),
    )


class UpBlock(nn.Module):
    """Transposed-conv upsampling, concatenation with the skip, scSE conv block."""

    def __init__(self, cin: int, cskip: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cskip, 2, stride=2)
        self.block = _conv_block(2 * cskip, cskip)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


class SEUNet(nn.Module):
    """Gamma: U-Net with scSE blocks. (B, cin, H, W) -> (B, cout, H, W); H, W divisible by 2^(levels-1)."""

    def __init__(self, cin: int, cout: int, features: tuple[int, ...]):
        super().__init__()
        self.down = nn.ModuleList()
        c = cin
        for f in features:
            self.down.append(_conv_block(c, f))
            c = f
        self.ups = nn.ModuleList([UpBlock(f, f_skip) for f_skip, f in zip(features[-2::-1], features[:0:-1])])
        self.head = nn.Conv2d(features[0], cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for i, block in enumerate(self.down):
            if i > 0:
                x = F.max_pool2d(x, 2)
            x = block(x)
            skips.append(x)
        n = len(skips)
        for i, up in enumerate(self.ups):
            x = up(x, skips[n - 2 - i])
        return self.head(x)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Replicate-pad the bottom and right of (B, C, H, W) up to multiples of ``multiple`` (crop afterwards)."""
    ph, pw = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, [0, pw, 0, ph], mode="replicate")


class HarmonizerGenerator(nn.Module):
    """G(I, MTF2D); see the module notes. image (B, 1, H, W), mtf2d (B, 1, 64, 64) -> (B, 1, H, W)."""

    def __init__(self, config: GeneratorConfig | None = None):
        super().__init__()
        config = config or GeneratorConfig()
        self.config = config
        cs, co, cp = config.spectral_channels, config.omega_channels, config.post_channels
        self.gamma = SEUNet(1, cs, tuple(config.features))
        self.omega = nn.Sequential(
            nn.ConvTranspose2d(1, co, 4, stride=2, padding=1), nn.LeakyReLU(0.1),
            nn.ConvTranspose2d(co, cs, 4, stride=2, padding=1),
        )
        self.shift_invariant = bool(config.shift_invariant)
        reach = 1 if self.shift_invariant else 3
        self.lam = nn.Conv3d(cs, 2 * cs, kernel_size=(3, reach, reach), padding=(0, reach // 2, reach // 2))
        self.fft_norm = "backward" if self.shift_invariant else "ortho"
        self.fft_size = int(config.fft_size)
        self.post = nn.Sequential(
            nn.Conv2d(cs + 1, cp, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(cp, 1, 3, padding=1),
        )
        self.attention = nn.Conv2d(1, 1, 7, padding=3)
        self.multiple = 2 ** (len(config.features) - 1)

    def forward(self, image: torch.Tensor, mtf2d: torch.Tensor) -> torch.Tensor:
        x = image.float()
        h, w = x.shape[-2], x.shape[-1]
        feats = self.gamma(pad_to_multiple(x, self.multiple))[:, :, :h, :w]
        back = self.spectral(feats, mtf2d)
        correction = self.post(torch.cat([back, x], dim=1))
        return x + torch.sigmoid(self.attention(x)) * correction

    def spectral(self, feats: torch.Tensor, mtf2d: torch.Tensor) -> torch.Tensor:
        """F^-1[Λ(F[feats], Ω(MTF2D))]: (B, cs, h, w) features and (B, 1, 64, 64) MTF -> (B, cs, h, w)."""
        h, w = feats.shape[-2], feats.shape[-1]
        sh, sw = max(h, self.fft_size), max(w, self.fft_size)                  # the FFT grid (zero-padded)
        spec = torch.fft.rfft2(feats, s=(sh, sw), norm=self.fft_norm)          # (B, cs, sh, sw//2+1)
        weight = sample_on_rfft(self.omega(mtf2d.float()), sh, sw)             # (B, cs, sh, sw//2+1)
        stack = torch.stack([spec.real * weight, spec.imag * weight, weight], dim=2)   # (B, cs, 3, sh, swr)
        mixed = self.spectral_mix(stack)                                       # (B, 2 cs, sh, swr)
        cs = feats.shape[1]
        back = torch.fft.irfft2(torch.complex(mixed[:, :cs], mixed[:, cs:]), s=(sh, sw), norm=self.fft_norm)
        return back[:, :, :h, :w]

    def spectral_mix(self, stack: torch.Tensor) -> torch.Tensor:
        """Λ: the 3-D convolution over (B, cs, 3, h, wr) whose kernel spans the whole depth of 3, i.e. exactly a
        2-D convolution over the cs*3 channels with the same weights, which is how it runs (CPU backends have
        fast 2-D kernels and only a slow generic 3-D one). Shift-invariant, the imaginary-part rows are tied to
        the real-part rows so that [Re', Im'] = H [Re, Im] is a complex product (their own W column stays free;
        their Re and Im columns go unused). Returns (B, 2 cs, h, wr)."""
        b, c, d, h, w = stack.shape
        weight = self.lam.weight                                                # (2 cs, cs, 3, reach, reach)
        if self.shift_invariant:
            re = weight[:c]                                                     # (cs, cs, 3, 1, 1): [a, -b, g]
            im = torch.stack([-re[:, :, 1], re[:, :, 0], weight[c:, :, 2]], dim=2)   # [b, a, g']
            weight = torch.cat([re, im])
        kernel = weight.flatten(1, 2)                                           # (2 cs, cs*3, reach, reach)
        pad = kernel.shape[-1] // 2
        return F.conv2d(stack.reshape(b, c * d, h, w), kernel, self.lam.bias, padding=(pad, pad))


class UNetAblation(nn.Module):
    """The ablation: the same scSE U-Net mapping I to I + correction, with no MTF input used
    (paper Table III). Same call signature; ``mtf2d`` is accepted and ignored."""

    def __init__(self, features: tuple[int, ...] = (12, 24, 48, 96)):
        super().__init__()
        self.net = SEUNet(1, 1, tuple(features))
        self.multiple = 2 ** (len(features) - 1)

    def forward(self, image: torch.Tensor, mtf2d: torch.Tensor) -> torch.Tensor:
        x = image.float()
        h, w = x.shape[-2], x.shape[-1]
        return x + self.net(pad_to_multiple(x, self.multiple))[:, :, :h, :w]


class Discriminator(nn.Module):
    """Five-layer fully convolutional critic on [input, harmonized or GT]: two (B, 1, H, W) -> patch scores
    (B, 1, H/8 + 1, W/8 + 1) (WGAN critic: no sigmoid, no batch norm)."""

    def __init__(self, base: int = 32):
        super().__init__()
        c = [2, base, 2 * base, 4 * base, 4 * base]
        layers = []
        for i in range(4):
            stride = 2 if i < 3 else 1
            layers += [nn.Conv2d(c[i], c[i + 1], 4, stride=stride, padding=1 if stride == 2 else 2),
                       nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(c[4], 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([image, other], dim=1))


def xavier_init(module: nn.Module) -> None:
    """Xavier-uniform weights, zero biases for every convolution."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
