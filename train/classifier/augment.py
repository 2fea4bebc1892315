"""On-the-fly jitter of the screening trainer's batches: shift, rotation, scale, colour, softening, mirror."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# Colour jitter per photo (+- fraction). Channel gains vary the skin tone and colour cast, so that a
# class must be told by its local pattern, not by the training portrait's overall colour.
COLOUR = {"brightness": 0.15, "contrast": 0.15, "saturation": 0.2, "gain": 0.06}


# Resolution loss per photo: share of photos, and the largest down-sampling factor (from 1.5).
SOFTEN = {"p": 0.25, "max_factor": 2.5}


def _jitter(x: torch.Tensor, rng: torch.Generator, rot_deg: float = 8.0, scale: float = 0.08,
            shift: float = 0.05) -> torch.Tensor:
    """Random small rotation, scale and shift of Bx3xHxW float images (black borders)."""
    b = x.shape[0]
    u = torch.rand(b, 4, generator=rng) * 2 - 1
    angle = u[:, 0] * math.radians(rot_deg)
    k = 1 + u[:, 1] * scale
    cos, sin = torch.cos(angle) / k, torch.sin(angle) / k
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * shift * 2], 1),
                         torch.stack([sin, cos, u[:, 3] * shift * 2], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _colour(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast, saturation and per-channel gain (strengths: :data:`COLOUR`);
    ``params`` Bx6 in [-1, 1]; x Bx...x3xHxW."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    gain = 1 + COLOUR["gain"] * params[:, 3:6].view(x.shape[0], *(1,) * (x.ndim - 4), 3, 1, 1)
    grey = x.mean(dim=-3, keepdim=True)
    x = grey + (x - grey) * (1 + COLOUR["saturation"] * params[:, 2]).view(shape)
    mean = x.mean(dim=(-3, -2, -1), keepdim=True)
    x = mean + (x - mean) * (1 + COLOUR["contrast"] * params[:, 1]).view(shape)
    return ((x * (1 + COLOUR["brightness"] * params[:, 0]).view(shape)) * gain).clamp(0, 1)


def _soften(x: torch.Tensor, which: torch.Tensor, factor: float) -> torch.Tensor:
    """Resolution loss: the Bx3xHxW images ``which`` (B bool) down-sampled by ``factor`` and back."""
    if not bool(which.any()):
        return x
    small = F.interpolate(x, scale_factor=1 / factor, mode="bilinear", antialias=True, align_corners=False)
    low = F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)
    return torch.where(which.view(-1, 1, 1, 1), low, x)


def augment(faces: torch.Tensor, crops: dict[str, torch.Tensor], views: dict[str, tuple],
            rng: torch.Generator) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Jittered float [0, 1] copies of a uint8 batch: faces Bx3xSxS, crops BxVx3xcxc.

    Per photo (shared by all its members): mirror, colour (:data:`COLOUR`) and, for a share of
    the photos, a resolution loss (:data:`SOFTEN`). Per member input: rotation, scale and shift.
    Mirroring flips the face and each single-view region; a region whose views are a side and its
    mirrored partner (the cheeks) swaps the two views instead, which is what a mirrored face shows.
    """
    b = faces.shape[0]
    colour = torch.rand(b, 6, generator=rng) * 2 - 1  # one lighting per photo, for every member
    flip = torch.rand(b, generator=rng) < 0.5
    soft = torch.rand(b, generator=rng) < SOFTEN["p"]
    factor = 1.5 + (SOFTEN["max_factor"] - 1.5) * float(torch.rand(1, generator=rng))
    face = faces.permute(0, 3, 1, 2).float() / 255
    face = torch.where(flip.view(b, 1, 1, 1), face.flip(-1), face)
    face = _colour(_jitter(_soften(face, soft, factor), rng), colour)
    out = {}
    for r, c in crops.items():
        x = c.permute(0, 1, 4, 2, 3).float() / 255  # BxVx3xcxc
        mirrored = [v.mirror for v in views[r]]
        if len(mirrored) == 2 and mirrored[0] != mirrored[1]:
            x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(1), x)
        else:
            x = torch.where(flip.view(b, 1, 1, 1, 1), x.flip(-1), x)
        v = x.shape[1]
        x = _jitter(_soften(x.flatten(0, 1), soft.repeat_interleave(v), factor), rng).unflatten(0, (b, v))
        out[r] = _colour(x, colour)
    return face, out


def normalise(x: torch.Tensor, spec: dict) -> torch.Tensor:
    """Float [0, 1] ...x3xHxW -> normalised with the card's ``mean``/``std`` (as ``to_tensor``)."""
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std
