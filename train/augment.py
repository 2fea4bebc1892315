"""Batch augmentation and losses for segmentation training (torch, CPU or GPU).

Images arrive as Bx1xHxW float in [0, 1] (before the card's normalisation, so padding stays
black) with soft masks Bx1xHxW in [0, 1]; geometry is applied to both, intensity to the image.
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.geometry import fill_holes
from core.predict import split_outputs

ELASTIC_KNOTS = 8  # the elastic warp's control points per side of the frame (about 40 px apart at 320 px)
ELASTIC_SD = 0.02  # displacement sd at each control point, as a share of the frame's side
LESION_RING_PX = 5  # the lesion's surroundings: a ring this wide outside its mask
LESION_FEATHER_SD = 2.0  # px; the blend fades over the mask's edge instead of drawing one
# lesion_paste's head: pixels above this grey (any sequence), holes filled. The LGG slices' background
# noise reaches 0.05-0.07 (a few scans more), the median-windowed brain sits at 0.33.
HEAD_GREY = 0.1


def random_affine(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, *, rot_deg: float = 20.0,
                  scale: float = 0.15, shift: float = 0.08, hflip: bool = True, elastic: float = 0.0
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random rotation, isotropic scaling, shift and horizontal flip, one per sample; with
    ``elastic`` > 0 that share of the samples also gets :func:`elastic_field`'s smooth warp, composed
    with the affine so image and mask are resampled once, together (0 draws nothing)."""
    b, _, h, w = x.shape
    r = lambda: torch.rand(b, generator=gen) * 2 - 1  # noqa: E731
    ang = r() * math.radians(rot_deg)
    s = 1.0 + r() * scale
    flip = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0) if hflip else torch.ones(b)
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    # Rotation in pixel space expressed in the normalised [-1, 1] grid of a non-square image.
    theta = torch.stack([
        torch.stack([cos * flip, -sin * h / w, r() * shift], 1),
        torch.stack([sin * flip * w / h, cos, r() * shift], 1),
    ], 1).to(x)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    if elastic > 0:
        grid = grid + elastic_field(b, h, w, gen, elastic).to(grid)
    return (F.grid_sample(x, grid, align_corners=False),
            F.grid_sample(y, grid, align_corners=False))


def elastic_field(b: int, h: int, w: int, gen: torch.Generator, share: float) -> torch.Tensor:
    """BxHxWx2 displacements in grid_sample's [-1, 1] units: for a ``share`` of the samples, normal
    displacements of sd :data:`ELASTIC_SD` of the frame's side at an :data:`ELASTIC_KNOTS` square
    grid, bicubic-interpolated to every pixel; zero for the others."""
    knots = torch.randn(b, 2, ELASTIC_KNOTS, ELASTIC_KNOTS, generator=gen) * (2 * ELASTIC_SD)
    knots = knots * (torch.rand(b, generator=gen) < share).float().view(b, 1, 1, 1)
    return F.interpolate(knots, size=(h, w), mode="bicubic", align_corners=False).permute(0, 2, 3, 1)


def random_intensity(x: torch.Tensor, gen: torch.Generator, per_channel: bool = False,
                     scale: float = 1.0) -> torch.Tensor:
    """Random gamma, gain, offset and a little Gaussian noise, then clamp to [0, 1]; with
    ``per_channel`` each channel (an MRI sequence) draws its own gamma, gain, offset and noise level,
    as each sequence's contrast varies on its own between scanners and patients. ``scale`` shrinks
    every range about no change (1: gamma 0.7-1.4, gain 0.75-1.25, offset +-0.05, noise up to 0.04;
    0.25: a quarter of each; 0: none)."""
    b, c = x.shape[0], (x.shape[1] if per_channel else 1)
    def u(lo: float, hi: float, none: float) -> torch.Tensor:
        """A uniform draw in [lo, hi] shrunk by ``scale`` towards ``none``, the value that changes nothing."""
        lo, hi = none + scale * (lo - none), none + scale * (hi - none)
        return (lo + (hi - lo) * torch.rand(b, c, 1, 1, generator=gen)).to(x)
    x = x.clamp(0, 1) ** u(0.7, 1.4, 1) * u(0.75, 1.25, 1) + u(-0.05, 0.05, 0)
    x = x + torch.randn(x.shape, generator=gen).to(x) * u(0.0, 0.04, 0)
    return x.clamp(0, 1)


def lesion_contrast(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, p: float,
                    low: float = 0.4) -> torch.Tensor:
    """With probability ``p`` per sample, make the lesion fainter: move its signal towards that of
    its surroundings by a factor drawn from [``low``, 1] (one per sample, all channels alike).

    The surroundings are the per-channel median of a :data:`LESION_RING_PX` ring outside the mask
    (inside the head: pixels above black); the change is blended in through the mask blurred by
    :data:`LESION_FEATHER_SD`, so no edge is drawn that the mask could be read from. Low-grade
    gliomas range from twice the brain's FLAIR signal to barely above it, and a global gamma or gain
    never changes a lesion's contrast to its brain. ``p`` = 0 draws nothing (the random stream of a
    run without it is kept); a sample without a lesion is left as it is.
    """
    if p <= 0:
        return x
    b = x.shape[0]
    chosen = torch.rand(b, generator=gen) < p
    alpha = low + (1 - low) * torch.rand(b, generator=gen)
    hard = (y >= 0.5).float()
    k = 2 * LESION_RING_PX + 1
    ring = (F.max_pool2d(hard, k, 1, LESION_RING_PX) - hard).bool() & (x.amax(1, keepdim=True) > 0.02)
    soft = feathered(hard)
    out = x.clone()
    for i in range(b):
        if not chosen[i] or not ring[i, 0].any():  # no lesion, no ring
            continue
        around = x[i][:, ring[i, 0]].median(dim=1).values.view(-1, 1, 1)
        out[i] = x[i] + soft[i] * (float(alpha[i]) - 1) * (x[i] - around)
    return out.clamp(0, 1)


def feathered(hard: torch.Tensor) -> torch.Tensor:
    """A Bx1xHxW 0/1 mask blurred by a Gaussian of sd :data:`LESION_FEATHER_SD`: a blend through it
    fades over the mask's edge instead of drawing one."""
    r = int(3 * LESION_FEATHER_SD)
    g = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=hard.dtype) / LESION_FEATHER_SD) ** 2)
    g = (g / g.sum()).to(hard)
    return F.conv2d(F.conv2d(hard, g.view(1, 1, 1, -1), padding=(0, r)), g.view(1, 1, -1, 1), padding=(r, 0))


def lesion_paste(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, p: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """With probability ``p`` per sample, paste the lesion of another sample of the batch into it
    (copy-paste augmentation, in the spirit of TumorCP, Yang et al. 2021): the donor's signal within
    its mask as it is, faded out over a feathered rim outside it (:data:`LESION_FEATHER_SD`), and its
    mask added to the sample's. Each sample went through its own random affine before, so the lesion
    lands elsewhere, at another angle and size, beside other anatomy. Only inside the recipient's head
    (pixels above :data:`HEAD_GREY`, holes filled): a paste that would leave most of the lesion
    outside it is skipped. With 16 patients, each tumour is otherwise seen in one head only. ``p`` = 0
    draws nothing (the random stream of a run without it is kept); a batch without a lesion is left
    as it is."""
    if p <= 0:
        return x, y
    b = x.shape[0]
    chosen = (torch.rand(b, generator=gen) < p).tolist()
    pick = torch.randint(0, 1 << 30, (b,), generator=gen).tolist()
    hard = (y >= 0.5).float()
    donors = [i for i in range(b) if hard[i].any()]
    if not donors:
        return x, y
    soft = torch.maximum(hard, feathered(hard))  # 1 on the lesion, fading outside it
    x_out, y_out = x.clone(), y.clone()
    for i in range(b):
        others = [j for j in donors if j != i]
        if not chosen[i] or not others:
            continue
        j = others[pick[i] % len(others)]
        head = torch.from_numpy(fill_holes((x[i].amax(0) > HEAD_GREY).numpy())).to(x)[None]
        s = soft[j] * head
        if float(s.sum()) < 0.5 * float(soft[j].sum()):  # the lesion would land mostly outside the head
            continue
        x_out[i] = x[i] * (1 - s) + x[j] * s
        y_out[i] = torch.maximum(y[i], y[j] * head)
    return x_out, y_out


@dataclass(frozen=True)
class Augment:
    """A run's augmentation settings: :func:`random_affine`'s ``elastic`` share, :func:`random_intensity`
    (``per_channel``, ``scale``), :func:`lesion_contrast` (``lesion``: its share of samples) and
    :func:`lesion_paste` (``paste``: likewise). A share of 0 draws nothing, so a run without them
    keeps its random stream."""

    per_channel: bool = False
    scale: float = 1.0
    lesion: float = 0.0
    elastic: float = 0.0
    paste: float = 0.0

    def text(self) -> str:
        """What a card says of it."""
        return ("rotation +-20 deg, scale +-15%, shift, horizontal flip"
                + (f", an elastic warp on {self.elastic:.0%} of samples (displacements of sd "
                   f"{ELASTIC_SD:.0%} of the frame on a {ELASTIC_KNOTS}x{ELASTIC_KNOTS} grid, smoothly "
                   "interpolated)" if self.elastic else "")
                + ", gamma, gain, noise" + (" (drawn per input channel)" if self.per_channel else "")
                + (f" (intensity ranges x{self.scale:g})" if self.scale != 1 else "")
                + (f"; in {self.lesion:.0%} of samples the lesion made fainter (its contrast to its "
                   "surroundings x0.4-1)" if self.lesion else "")
                + (f"; in {self.paste:.0%} of samples another sample's lesion pasted in (copy-paste)"
                   if self.paste else ""))


def add_augment_arguments(p: argparse.ArgumentParser) -> None:
    """The command-line options behind :class:`Augment` (``train.segmentation``'s)."""
    p.add_argument("--intensity-per-channel", action="store_true",
                   help="each input channel (MRI sequence) draws its own random gamma, gain, offset and "
                        "noise in augmentation (default: one draw for all channels)")
    p.add_argument("--intensity-scale", type=float, default=1.0, metavar="F",
                   help="shrink the random gamma, gain, offset and noise of augmentation to F of their "
                        "ranges (1: gamma 0.7-1.4, gain 0.75-1.25; 0: none): for inputs already put on one "
                        "scale, such as median-windowed MRI, where the grey of a tissue carries meaning")
    p.add_argument("--lesion-contrast", type=float, default=0.0, metavar="P",
                   help="make the lesion fainter in a share P of training samples: its signal moved towards "
                        "its surroundings' by a factor 0.4-1 (train.augment.lesion_contrast; default 0: off)")
    p.add_argument("--elastic", type=float, default=0.0, metavar="P",
                   help="an elastic warp on a share P of training samples (train.augment.elastic_field)")
    p.add_argument("--lesion-paste", type=float, default=0.0, metavar="P",
                   help="paste another sample's lesion into a share P of training samples (copy-paste "
                        "augmentation, train.augment.lesion_paste; default 0: off)")


def random_crop(x: torch.Tensor, y: torch.Tensor, size: tuple[int, int], gen: torch.Generator
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """One random ``size`` crop per sample."""
    ch, cw = size
    _, _, h, w = x.shape
    tops = torch.randint(0, h - ch + 1, (x.shape[0],), generator=gen).tolist()
    lefts = torch.randint(0, w - cw + 1, (x.shape[0],), generator=gen).tolist()
    xs = [x[i, :, t : t + ch, c : c + cw] for i, (t, c) in enumerate(zip(tops, lefts))]
    ys = [y[i, :, t : t + ch, c : c + cw] for i, (t, c) in enumerate(zip(tops, lefts))]
    return torch.stack(xs), torch.stack(ys)


def boundary_band(target: torch.Tensor, width: int = 1) -> torch.Tensor:
    """Bx1xHxW 0/1: the pixels within ``width`` of a soft mask's edge (its morphological gradient)."""
    k = 2 * width + 1
    hard = (target >= 0.5).float()
    return F.max_pool2d(hard, k, 1, width) - (-F.max_pool2d(-hard, k, 1, width))


def dice_bce_loss(logits: torch.Tensor, target: torch.Tensor, *, smooth: float = 1.0,
                  boundary_weight: float = 0.0, batch_dice: bool = False) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice loss (per image, averaged); soft targets allowed.

    ``batch_dice`` pools the Dice over the whole batch instead: with the default per-image Dice
    (smoothing 1), an image without the structure costs almost a whole Dice point for a little
    probability mass, which pushes towards predicting less.

    ``boundary_weight`` > 0 weighs the cross-entropy of the pixels along the mask's edge
    (:func:`boundary_band`) ``1 + boundary_weight`` times: where a measurement such as a head
    circumference is read, a pixel of error costs more than inside the region.
    """
    weight = 1 + boundary_weight * boundary_band(target) if boundary_weight else None
    bce = F.binary_cross_entropy_with_logits(logits, target, weight=weight)
    p = torch.sigmoid(logits).flatten(1)
    t = target.flatten(1)
    if batch_dice:
        p, t = p.reshape(1, -1), t.reshape(1, -1)
    dice = (2 * (p * t).sum(1) + smooth) / (p.sum(1) + t.sum(1) + smooth)
    return bce + (1 - dice).mean()


def segmentation_loss(out: torch.Tensor | tuple, target: torch.Tensor, presence_weight: float = 0.5,
                      boundary_weight: float = 0.0, batch_dice: bool = False) -> torch.Tensor:
    """BCE + soft Dice on the mask, plus BCE on the presence head for models that have one.

    The presence target is whether the (soft) mask has any pixel >= 0.5.
    """
    logits, presence = split_outputs(out)
    loss = dice_bce_loss(logits.float(), target, boundary_weight=boundary_weight, batch_dice=batch_dice)
    if presence is not None:
        present = (target.flatten(1).amax(1, keepdim=True) >= 0.5).float()
        loss = loss + presence_weight * F.binary_cross_entropy_with_logits(presence.float(), present)
    return loss


def batch_dice(logits: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Hard Dice per image (both empty counts as 1), Bx1xHxW logits vs soft target."""
    p = (torch.sigmoid(logits) >= threshold).flatten(1).float()
    t = (target >= 0.5).flatten(1).float()
    inter, total = (p * t).sum(1), p.sum(1) + t.sum(1)
    return torch.where(total > 0, 2 * inter / total.clamp(min=1), torch.ones_like(total))
