"""Segmentation predictor: numpy image in, probability and mask on the ORIGINAL grid out.

Preprocessing is read from the model card (``input``: size, letterbox, mean/std) and shared
with ``train/`` through :func:`prepare_input`, so training and inference see the same pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.special import expit
from torch import nn

from core.geometry import drop_small_components, fill_holes, largest_component
from core.io.image import to_gray_u8
from core.predict.fold import fold_batchnorm
from core.predict.framing import Letterbox, content_box, letterbox, unletterbox
from core.predict.tta import OUTSIDE_LOGIT, Transform, parse_transforms
from core.weights import ModelCard, load_model


@dataclass(frozen=True)
class SegmentationResult:
    """One predicted mask.

    Attributes:
        prob: HxW float32 foreground probability on the input image's grid.
        mask: HxW bool mask after threshold and the card's post-processing.
        threshold: the probability threshold used.
        presence: probability that the structure is in the image at all: the model's auxiliary
            "present?" head when it has one, else the highest pixel probability.
        members: with test-time augmentation (the card's ``postprocess["tta"]``), each view's own
            HxW bool mask after the same post-processing, the plain frame first; else empty.
            ``prob`` and ``mask`` are then those of the views' mean logits.
        postprocess: the post-processing this result was made with (the card's, with any overrides).
    """

    prob: np.ndarray
    mask: np.ndarray
    threshold: float
    presence: float | None = None
    members: tuple[np.ndarray, ...] = ()
    postprocess: dict = field(default_factory=dict)

    def disagreement(self) -> np.ndarray | None:
        """HxW float32 in [0, 1]: the share of test-time views whose mask differs from ``mask``
        at each pixel (0 where all agree); None without test-time augmentation."""
        if len(self.members) < 2:
            return None
        differ = np.zeros(self.mask.shape, np.float32)
        for m in self.members:
            differ += m != self.mask
        return differ / len(self.members)


def split_outputs(out: torch.Tensor | tuple | list) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mask logits (Bx1xHxW) and, for models with an auxiliary presence head, its logits (Bx1).

    Models return either the mask logits alone or ``(mask_logits, presence_logits)``, the
    convention of smp's ``aux_params``.
    """
    if isinstance(out, (tuple, list)):
        return out[0], out[1]
    return out, None


def framing_box(image: np.ndarray, spec: dict) -> tuple[int, int, int, int] | None:
    """The part of ``image`` the card's ``input`` frames: its content box when ``trim_border``
    is set, else None (the whole image)."""
    return content_box(image) if spec.get("trim_border") else None


def prepare_input(image: np.ndarray, spec: dict, channels: int = 1) -> tuple[np.ndarray, Letterbox]:
    """Greyscale (or keep the channels of), letterbox and normalise one image as the card's
    ``input`` section says.

    Args:
        image: HxW (any dtype) or HxWx3 image; HxWx``channels`` uint8 for a multi-channel model.
        spec: the card's ``input`` dict: ``size`` [H, W], ``mean`` and ``std`` of [0, 1] pixels
            (one value, or one per channel), and ``trim_border``: frame only the content inside
            letterbox bands of the file (:func:`core.predict.framing.content_box`).
        channels: the model's input channels (the card's ``arch_config["in_channels"]``): 1 turns
            the image grey; more keeps its channels (an MRI slice's sequences), which must match.

    Returns:
        ``(x, box)`` with ``x`` a CxHxW float32 array ready for the network (C = ``channels``).
    """
    if channels > 1:
        if image.ndim != 3 or image.shape[2] != channels or image.dtype != np.uint8:
            raise ValueError(f"this model reads {channels}-channel images (HxWx{channels} uint8: one "
                             f"channel per sequence); got shape {image.shape} {image.dtype}")
        boxed, box = letterbox(np.ascontiguousarray(image), spec["size"], crop=framing_box(image, spec))
        mean, std = (np.resize(np.asarray(spec[k], np.float32), channels) for k in ("mean", "std"))
        x = (boxed.astype(np.float32) / 255.0 - mean) / std
        return np.ascontiguousarray(x.transpose(2, 0, 1)), box
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3,)):
        raise ValueError(f"expected an HxW greyscale or HxWx3 image, got shape {image.shape}")
    grey = to_gray_u8(image)
    boxed, box = letterbox(grey, spec["size"], crop=framing_box(grey, spec))
    x = (boxed.astype(np.float32) / 255.0 - float(spec["mean"][0])) / float(spec["std"][0])
    return x[None], box


def postprocess(prob: np.ndarray, threshold: float, spec: dict) -> np.ndarray:
    """Threshold a probability map and apply the card's ``postprocess`` steps (HxW bool out)."""
    mask = prob >= threshold
    # min_area_frac: a share of the frame, so one rule fits a 256x256 copy and a 580x420 original.
    min_area = max(int(spec.get("min_area_px", 0)), round(float(spec.get("min_area_frac", 0.0)) * mask.size))
    mask = drop_small_components(mask, min_area)
    if spec.get("largest_component") and mask.any():
        mask = largest_component(mask)
    if spec.get("fill_holes") and mask.any():
        mask = fill_holes(mask)
    return mask


class Segmenter:
    """Runs a segmentation model on numpy images, as its card prescribes.

    The model is shared (it may be cached for every browser session): this class never changes
    its mode or parameters, and runs it under ``torch.inference_mode()``.
    """

    def __init__(self, model: nn.Module, card: ModelCard, device: str | torch.device = "cpu") -> None:
        # Takes ownership of ``model``: its BatchNorms are folded into the convolutions before them
        # (core.predict.fold) and channels-last runs these convolutions faster on CPU.
        model = model.eval()
        fold_batchnorm(model)
        self.model = model.to(memory_format=torch.channels_last)
        self.card = card
        self.device = torch.device(device)
        self.transforms = parse_transforms(card.postprocess.get("tta"))
        self.channels = card.in_channels

    @classmethod
    def from_folder(cls, folder: str | Path, device: str = "cpu") -> Segmenter:
        """Load a weights folder (sha256 checked) into a predictor."""
        model, card = load_model(folder, device=device)
        return cls(model, card, device)

    @property
    def threshold(self) -> float:
        """The card's default probability threshold."""
        return float(self.card.postprocess.get("threshold", 0.5))

    def input_tensor(self, image: np.ndarray) -> tuple[torch.Tensor, Letterbox]:
        """The 1xCxHxW network input for ``image`` and how it was letterboxed."""
        x, box = prepare_input(image, self.card.input, self.channels)
        return torch.from_numpy(x[None]).to(self.device, memory_format=torch.channels_last), box

    def logits(self, images: Sequence[np.ndarray], transforms: Sequence[Transform] | None = None
               ) -> list[tuple[np.ndarray, Letterbox, float | None, list[np.ndarray]]]:
        """Per image: foreground logits at network resolution (HxW float32, the mean over the
        test-time views), the letterbox, the presence logit when the model has an auxiliary head
        (else None), and each view's own logits (one map without test-time augmentation).

        Args:
            images: HxW or HxWx3 images (they may differ in size); HxWxC uint8 for a C-channel model.
            transforms: the test-time views, the plain frame first; default: the card's.
        """
        views = self.transforms if transforms is None else tuple(transforms)
        prepared = [prepare_input(im, self.card.input, self.channels) for im in images]
        black = (0.0 - float(self.card.input["mean"][0])) / float(self.card.input["std"][0])
        batch = torch.from_numpy(np.stack([t.apply(x, black) for x, _ in prepared for t in views]))
        batch = batch.to(self.device, memory_format=torch.channels_last)
        with torch.inference_mode():
            masks, presence = split_outputs(self.model(batch))
            maps = masks[:, 0].float().cpu().numpy()
            aux = presence[:, 0].float().cpu().numpy() if presence is not None else None
        out, k = [], len(views)
        for i, (_, box) in enumerate(prepared):
            members = [t.undo(maps[i * k + j]) for j, t in enumerate(views)]
            mean = members[0] if k == 1 else np.mean(members, axis=0, dtype=np.float32)
            out.append((mean, box, None if aux is None else float(aux[i * k : (i + 1) * k].mean()), members))
        return out

    def predict_batch(self, images: Sequence[np.ndarray], *, threshold: float | None = None,
                      overrides: dict | None = None) -> list[SegmentationResult]:
        """Predict several images in one forward pass (they may differ in size).

        ``overrides`` replaces entries of the card's post-processing for this call (e.g. a
        page's minimum-area or presence-threshold slider); the card itself is not changed.
        """
        thr = self.threshold if threshold is None else float(threshold)
        spec = {**self.card.postprocess, **(overrides or {})}
        views = parse_transforms(spec.get("tta")) if "tta" in (overrides or {}) else self.transforms
        results = []
        for logit, box, aux, members in self.logits(images, views):
            # Resize logits, not probabilities: the 0.5 boundary interpolates more faithfully.
            prob = expit(unletterbox(logit, box, OUTSIDE_LOGIT))
            presence = float(expit(aux)) if aux is not None else float(prob.max())
            absent = presence < float(spec.get("presence_threshold", 0.0))
            mask = postprocess(prob, thr, spec)
            if absent:
                mask = np.zeros_like(mask)  # the model says the structure is not in this image
            views_masks: tuple[np.ndarray, ...] = ()
            if len(members) > 1:
                cut = float(np.log(thr / (1 - thr))) if 0 < thr < 1 else (np.inf if thr >= 1 else -np.inf)
                views_masks = tuple(np.zeros_like(mask) if absent else
                                    postprocess(unletterbox(m, box, OUTSIDE_LOGIT) >= cut, 0.5, spec)
                                    for m in members)
            results.append(SegmentationResult(prob, mask, thr, presence, views_masks, spec))
        return results

    def predict(self, image: np.ndarray, *, threshold: float | None = None,
                overrides: dict | None = None) -> SegmentationResult:
        """Predict one image: HxW (any dtype) or HxWx3 in, result on the same HxW grid."""
        return self.predict_batch([image], threshold=threshold, overrides=overrides)[0]
