"""Face parser: a photo (or a face box in it) in, FASSEG region labels on the photo's grid out.

The network sees the face box LETTERBOXED into its square input (:func:`face_frame`: the box's
aspect kept, centred, black outside the photo): no landmarks are needed, so profile faces that
Face Mesh cannot find are parsed too. Its per-pixel class probabilities are warped back onto the
photo with the inverse of that affine (background outside the framed square) and the label map is
their argmax. The training script builds its samples with the same :func:`face_frame`, composed
with a random similarity, so training and inference frame a face alike.

The card's ``input`` section: ``size`` [S, S], ``resize`` ``"face_box"``, ``mean``/``std`` per
RGB channel of [0, 1] pixels. ``labels`` name the output channels, ``labels[0]`` the background
(FASSEG's classes: background, hair, skin, eyes, nose, mouth). ``postprocess.mirror_tta``: also
run the mirrored input and average (channels named ``right_*``/``left_*`` swap).

:func:`align_spec` (eye-aligned inputs) serves the screening models, which align faces by their
landmarks; the helpers below (:func:`warp_back`, :func:`region_iou`, ...) serve both.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from core.face.landmarks import FaceLandmarks
from core.weights import ModelCard, WeightsError, load_model

BACKGROUND = "background"
# Below this network-pixels-per-photo-pixel scale the photo is first shrunk with area averaging,
# so a large photo is not aliased by the bilinear warp.
_PRESHRINK_BELOW = 0.75
# How FASSEG frames a head, relative to Face Mesh's landmark box (median over the 34 frontal
# FASSEG photos in which Face Mesh finds a face): the photo is 1.36x the box's width and 1.52x
# its height, centred 0.17 box heights above the box's centre (hair above, neck below).
FASSEG_FRAMING = {"width": 1.36, "height": 1.52, "shift_up": 0.17}


def parser_box(lm: FaceLandmarks) -> tuple[float, float, float, float]:
    """The box ``(x0, y0, x1, y1)`` around a face that frames it as FASSEG photos are framed, from
    its landmarks (may reach outside the photo: the framing pads with black, as in training)."""
    x0, y0, x1, y1 = lm.bbox
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - FASSEG_FRAMING["shift_up"] * h
    hw, hh = FASSEG_FRAMING["width"] * w / 2, FASSEG_FRAMING["height"] * h / 2
    return cx - hw, cy - hh, cx + hw, cy + hh


@dataclass(frozen=True)
class RegionPrediction:
    """The parser's regions of one photo.

    Attributes:
        labels: HxW uint8 label map on the requested grid (the photo's by default); value k is
            the region ``names[k]``, 0 the background.
        names: label names, ``names[0] == "background"``.
        matrix: 2x3 float64 affine from that grid's pixels to the network's input.
        probs: KxHxW float32 class probabilities on the same grid, only when asked for.
    """

    labels: np.ndarray
    names: tuple[str, ...]
    matrix: np.ndarray
    probs: np.ndarray | None = None


def frame_matrix(box: Sequence[float], size: int) -> np.ndarray:
    """2x3 affine from photo pixels to an SxS input in which the box ``(x0, y0, x1, y1)`` is scaled to
    fit with its aspect kept, and centred; the rest of the square shows the photo around the box
    (black beyond the photo's edges, as when a whole photo is framed)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"an empty face box: {tuple(box)}")
    s = size / max(x1 - x0, y1 - y0)
    return np.array([[s, 0.0, size / 2 - s * (x0 + x1) / 2],
                     [0.0, s, size / 2 - s * (y0 + y1) / 2]], np.float64)


def face_frame(image: np.ndarray, matrix: np.ndarray, size: int, *,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """The SxS network input: ``image`` warped by the 2x3 ``matrix`` (photo -> input pixels),
    black outside the photo; a strong shrink first averages the photo down (no aliasing)."""
    scale = math.sqrt(abs(float(np.linalg.det(matrix[:, :2]))))
    if scale < _PRESHRINK_BELOW and interpolation != cv2.INTER_NEAREST:
        f = scale / _PRESHRINK_BELOW  # the warp that is left scales by _PRESHRINK_BELOW
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        fx, fy = small.shape[1] / w, small.shape[0] / h
        matrix = matrix @ np.diag([1 / fx, 1 / fy, 1.0])
        image = small
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def normalise_rgb(rgb: np.ndarray, spec: Mapping) -> np.ndarray:
    """SxSx3 uint8 RGB -> 3xSxS float32 normalised with the card's per-channel ``mean``/``std``.

    Shared with ``train.face_regions`` so that training and inference see the same numbers.
    """
    mean = np.asarray(spec["mean"], np.float32).reshape(3, 1, 1)
    std = np.asarray(spec["std"], np.float32).reshape(3, 1, 1)
    return (np.asarray(rgb, np.float32).transpose(2, 0, 1) / 255.0 - mean) / std


def align_spec(spec: Mapping) -> dict[str, float]:
    """Keyword arguments of :func:`core.face.regions.align_face` from a card's ``input``."""
    size = [int(s) for s in spec["size"]]
    if len(size) != 2 or size[0] != size[1]:
        raise WeightsError(f"a face-region card needs a square input size, got {size}")
    align = spec.get("align", {})
    return {"size": size[0], "eye_distance": float(align.get("eye_distance", 0.35)),
            "eye_y": float(align.get("eye_y", 0.4))}


def mirror_permutation(names: Sequence[str]) -> list[int]:
    """Channel order after a horizontal mirror: each ``right_*`` label swaps with its ``left_*``."""
    index = {n: k for k, n in enumerate(names)}
    swap = {"right_": "left_", "left_": "right_"}
    out = []
    for name in names:
        prefix = next((p for p in swap if name.startswith(p)), None)
        partner = swap[prefix] + name[len(prefix):] if prefix else name
        out.append(index.get(partner, index[name]))
    return out


class FaceParser:
    """Runs a face-parsing model on a photo, as its card prescribes.

    The model may be cached and shared by every browser session: this class puts it in eval
    mode once, never changes it afterwards, and runs it under ``torch.inference_mode()``.
    """

    def __init__(self, model: nn.Module, card: ModelCard, device: str | torch.device = "cpu") -> None:
        if not card.labels or card.labels[0] != BACKGROUND:
            raise WeightsError(f"a face-parser card's labels start with {BACKGROUND!r}, got {card.labels}")
        size = [int(s) for s in card.input.get("size", [])]
        if len(size) != 2 or size[0] != size[1] or card.input.get("resize") != "face_box":
            raise WeightsError(f"a face-parser card needs a square input size and resize 'face_box', "
                               f"got {card.input}")
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.card = card
        self.names = tuple(card.labels)
        self.size = size[0]
        self.device = torch.device(device)
        self._mirror = mirror_permutation(self.names)

    @classmethod
    def from_folder(cls, folder: str | Path, device: str = "cpu") -> FaceParser:
        """Load a weights folder (sha256 checked) into a predictor."""
        model, card = load_model(folder, device=device)
        return cls(model, card, device)

    def network_probs(self, image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """KxSxS float32 softmax of the input framed by ``matrix`` (photo -> input pixels)."""
        framed = face_frame(image, matrix, self.size)
        x = torch.from_numpy(normalise_rgb(framed, self.card.input))[None]
        if self.card.postprocess.get("mirror_tta"):
            x = torch.cat([x, x.flip(-1)])
        x = x.to(self.device, memory_format=torch.channels_last)
        with torch.inference_mode():
            probs = torch.softmax(self.model(x).float(), dim=1)
            if len(probs) == 2:  # mirror back (right <-> left channels, if any), then average
                probs = (probs[0] + probs[1].flip(-1)[self._mirror]) / 2
            else:
                probs = probs[0]
        return probs.cpu().numpy()

    def predict(self, image: np.ndarray, box: Sequence[float] | None = None, *,
                shape: tuple[int, int] | None = None, return_probs: bool = False) -> RegionPrediction:
        """The regions of the face in ``box`` of ``image``.

        Args:
            image: HxWx3 uint8 RGB photo.
            box: ``(x0, y0, x1, y1)`` in photo pixels, framed as the card's input; the whole photo
                by default (a FASSEG-like head-and-shoulders photo). :func:`face_box` gives one
                from landmarks.
            shape: (H, W) of the output grid, for a resized copy of the photo; defaults to the
                photo's size.
            return_probs: also return the KxHxW probabilities (memory: 4*K*H*W bytes).
        """
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"the face parser takes an HxWx3 uint8 RGB photo, got {image.dtype} "
                             f"{image.shape}")
        ih, iw = image.shape[:2]
        matrix = frame_matrix(box if box is not None else (0, 0, iw, ih), self.size)
        probs = self.network_probs(image, matrix)
        h, w = shape or (ih, iw)
        grid = matrix @ np.diag([iw / w, ih / h, 1.0])  # output pixel -> input pixel
        labels, full = warp_back(probs, grid, (h, w), keep_probs=return_probs)
        return RegionPrediction(labels, self.names, grid, full)


def warp_back(probs: np.ndarray, matrix: np.ndarray, shape: tuple[int, int], *,
              keep_probs: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """Class probabilities of an aligned KxSxS frame onto an HxW grid, and their argmax.

    Only the bounding box of the aligned square's footprint is resampled (one channel at a
    time, keeping a running maximum), so a small face in a large photo costs little. Outside
    the square every pixel is background (channel 0).

    Args:
        probs: KxSxS float32 probabilities.
        matrix: 2x3 affine from grid pixels to aligned pixels.
        shape: (H, W) of the grid.
        keep_probs: also return the KxHxW probabilities.

    Returns:
        HxW uint8 labels, and KxHxW float32 probabilities or None.
    """
    k, s = probs.shape[0], probs.shape[-1]
    h, w = shape
    labels = np.zeros((h, w), np.uint8)
    full = None
    if keep_probs:
        full = np.zeros((k, h, w), np.float32)
        full[0] = 1.0
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[-1, -1], [s, -1], [-1, s], [s, s]], np.float64) @ inverse[:, :2].T + inverse[:, 2]
    x0, y0 = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(corners.max(axis=0)).astype(int) + 1, (w, h))
    if x1 <= x0 or y1 <= y0:
        return labels, full
    window = matrix.copy()
    window[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)  # window pixel -> aligned
    best = np.full((y1 - y0, x1 - x0), -1.0, np.float32)
    for c in range(k):
        pc = cv2.warpAffine(np.ascontiguousarray(probs[c], np.float32), window, (x1 - x0, y1 - y0),
                            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=float(c == 0))
        better = pc > best
        labels[y0:y1, x0:x1][better] = c
        np.maximum(best, pc, out=best)
        if full is not None:
            full[c, y0:y1, x0:x1] = pc
    return labels, full


def resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """An HxW label map resized to ``shape`` (H, W) by nearest neighbour (labels never blend)."""
    if labels.shape[:2] == tuple(shape):
        return labels
    return cv2.resize(labels, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_NEAREST)


def region_iou(pred: np.ndarray, true: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """IoU of each label between two HxW label maps (value k = ``names[k]``).

    A label absent from both maps gets NaN (nothing to score), one absent from only one gets 0.

    Raises:
        ValueError: shapes differ, or a value is not a valid label index.
    """
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape:
        raise ValueError(f"label maps differ in shape: {pred.shape} vs {true.shape}")
    k = len(names)
    if pred.size and max(int(pred.max()), int(true.max())) >= k:
        raise ValueError(f"label values must be below {k} (the number of names)")
    confusion = np.bincount(true.astype(np.int64).ravel() * k + pred.astype(np.int64).ravel(),
                            minlength=k * k).reshape(k, k)
    inter = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - inter
    return {n: float(inter[i] / union[i]) if union[i] else math.nan for i, n in enumerate(names)}


def mean_region_iou(ious: Mapping[str, float]) -> float:
    """Mean IoU over the regions, background excluded, NaN entries skipped (NaN if none left)."""
    values = [v for n, v in ious.items() if n != BACKGROUND and not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan
