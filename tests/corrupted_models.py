"""Models that hallucinate: the default model wrapped so that its output gains a blob, a shift of soft tissue or
a texture, exported with the default's card sections (its domain and guard limits), as a user might be sent."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from operators.harmonize import resolve_model

HU_SCALE = 2048.0


class Corrupted(torch.nn.Module):
    """``inner``'s output plus ``bump`` (HU, (H, W): a blob or a texture) where ``inside`` selects, and plus
    ``shift_hu`` over its soft tissue (-300..300 HU)."""

    def __init__(self, inner, bump_hu: torch.Tensor, shift_hu: float, body_only: bool):
        super().__init__()
        self.inner = inner
        self.register_buffer("bump", bump_hu / HU_SCALE)
        self.shift = shift_hu / HU_SCALE
        self.body_only = body_only

    def forward(self, image: torch.Tensor, mtf2d: torch.Tensor) -> torch.Tensor:
        out = self.inner(image, mtf2d)
        hu = out * 2048.0 - 1024.0
        if self.body_only:
            out = out + self.bump * (hu > -500.0).to(out.dtype)
        else:
            out = out + self.bump
        tissue = ((hu > -300.0) & (hu < 300.0)).to(out.dtype)
        return out + self.shift * tissue


def disc(shape, centre, diameter_px: float, amplitude_hu: float) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.arange(shape[0], dtype=torch.float32), torch.arange(shape[1], dtype=torch.float32),
                            indexing="ij")
    return amplitude_hu * (torch.hypot(yy - centre[0], xx - centre[1]) <= diameter_px / 2).float()


def texture(shape, sd_hu: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    field = torch.nn.functional.avg_pool2d(torch.randn(1, 1, *shape, generator=g), 3, 1, 1)[0, 0]
    return sd_hu * field / field.std()


def write_corrupted(default: Path, out: Path, bump_hu: torch.Tensor, shift_hu: float = 0.0,
                    body_only: bool = False) -> Path:
    """The corrupted default in ``out``: its model.ts and the default's card (domain, guard limits and I/O
    contract included) with the new file's sha256."""
    from operators.harmonize import sha256_of

    file = resolve_model(default)
    card = json.loads((file.parent / "model_card.json").read_text())
    module = torch.jit.script(Corrupted(torch.jit.load(str(file)), bump_hu, shift_hu, body_only).eval())
    out.mkdir(parents=True, exist_ok=True)
    torch.jit.save(module, str(out / "model.ts"))
    card.update(name="corrupted", version="0", sha256=sha256_of(out / "model.ts"),
                memory_format="contiguous", metrics={})
    (out / "model_card.json").write_text(json.dumps(card))
    return out
