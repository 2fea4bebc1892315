"""Test-time augmentation (TTA): one frame seen several ways, every answer mapped back to one grid.

A model card opts in with ``postprocess["tta"]``, a list of transforms applied besides the frame
as it is. Names (combine with ``+``):

* ``hflip``: mirror left-right;
* ``zoom:F``: scale by ``F`` about the centre of the network input (``zoom:1.08``);
* ``shift:DX,DY``: move by ``DX`` of the input's width and ``DY`` of its height (``shift:0.03,-0.02``).

Each transform acts on the normalised network input and is undone on the output logits, so the
members' maps lie on the network grid of the plain frame: their mean is the prediction, their
disagreement a measure of how stable it is (:attr:`core.predict.SegmentationResult.members`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

OUTSIDE_LOGIT = -20.0  # what an undone zoom or shift fills in where the member saw nothing


@dataclass(frozen=True)
class Transform:
    """One test-time view of the network input: optional mirror, then zoom and shift."""

    name: str
    flip: bool = False
    zoom: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)

    @property
    def warps(self) -> bool:
        """Whether the view needs resampling (a zoom or a shift), not just a mirror."""
        return self.zoom != 1.0 or self.shift != (0.0, 0.0)

    def matrix(self, h: int, w: int) -> np.ndarray:
        """2x3 affine map from input pixels to view pixels (after the mirror)."""
        cx, cy = (w - 1) / 2, (h - 1) / 2
        z, (dx, dy) = self.zoom, self.shift
        return np.array([[z, 0, (1 - z) * cx + dx * w], [0, z, (1 - z) * cy + dy * h]], np.float64)

    def apply(self, x: np.ndarray, fill: float) -> np.ndarray:
        """The view of a CxHxW network input (``fill``: the normalised value of black)."""
        out = x[..., ::-1] if self.flip else x
        if self.warps:
            h, w = x.shape[-2:]
            m = self.matrix(h, w)
            out = np.stack([cv2.warpAffine(np.ascontiguousarray(c), m, (w, h), flags=cv2.INTER_LINEAR,
                                           borderMode=cv2.BORDER_CONSTANT, borderValue=fill) for c in out])
        return np.ascontiguousarray(out, np.float32)

    def undo(self, logits: np.ndarray) -> np.ndarray:
        """An HxW output map of the view, put back on the grid of the plain input."""
        out = logits
        if self.warps:
            h, w = logits.shape
            inv = cv2.invertAffineTransform(self.matrix(h, w))
            out = cv2.warpAffine(np.ascontiguousarray(out, np.float32), inv, (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=OUTSIDE_LOGIT)
        if self.flip:
            out = out[:, ::-1]
        return np.ascontiguousarray(out, np.float32)


IDENTITY = Transform("identity")


def parse_transform(name: str) -> Transform:
    """A :class:`Transform` from its card name (see the module docstring).

    Raises:
        ValueError: an unknown part, or a zoom / shift outside what a frame can take (zoom 0.5-2,
            shift +-0.25).
    """
    flip, zoom, shift = False, 1.0, (0.0, 0.0)
    for part in str(name).split("+"):
        kind, _, value = part.strip().partition(":")
        try:
            if kind == "hflip" and not value:
                flip = True
            elif kind == "zoom":
                zoom = float(value)
            elif kind == "shift":
                dx, dy = (float(v) for v in value.split(","))
                shift = (dx, dy)
            else:
                raise ValueError
        except ValueError:
            raise ValueError(f"unknown test-time transform {part!r} in {name!r}; expected hflip, "
                             "zoom:F or shift:DX,DY joined by '+'") from None
    if not (0.5 <= zoom <= 2.0 and math.isfinite(zoom)) or not all(abs(s) <= 0.25 for s in shift):
        raise ValueError(f"test-time transform {name!r}: zoom must be 0.5-2 and shifts within +-0.25")
    return Transform(str(name), flip, zoom, shift)


def parse_transforms(names: list[str] | tuple[str, ...] | None) -> tuple[Transform, ...]:
    """The identity followed by the card's transforms (``postprocess["tta"]``)."""
    return (IDENTITY, *(parse_transform(n) for n in (names or ())))
