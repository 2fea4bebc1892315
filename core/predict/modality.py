"""Is an upload what the page analyses? A learned modality check: ultrasound, MRI or other.

The colour check (:func:`core.io.image.mean_chroma`) and a DICOM's Modality tag catch colour
photographs and CT series; they miss a greyscale photograph on an ultrasound page and an
ultrasound frame on the MRI page. :class:`ModalityGate` runs a small CNN
(:mod:`core.models.modality`, ``weights/modality/cnn``) on the grey image squashed to the card's
size and refuses only when it is confident the image is ANOTHER modality: the probability of the
page's modality under the card's ``refuse_below`` (fixed before training, not tuned on the
validation set). Anything in between passes: the gate is there to stop numbers on the wrong kind
of image, not to second-guess unusual scans. The card records the validation on held-out real
frames, slices and photos (split by exam, subject, patient or person).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from core import roots
from core.io.image import to_gray_u8
from core.models.modality import MODALITIES
from core.weights import ModelCard, load_model

WORDS = {"ultrasound": "an ultrasound frame", "mri": "an MRI slice",
         "other": "a photograph or another kind of picture"}


def gate_folder() -> Path:
    """The shipped modality check: ``weights/modality/cnn`` (under ``MEDIMG_WEIGHTS`` when set)."""
    return roots.WEIGHTS_ROOT / "modality" / "cnn"


def prepare(image: np.ndarray, size: int) -> np.ndarray:
    """Any image (grey, RGB, 16-bit, float) -> 3xSxS float32 on 0..1: grey, squashed to the square
    (the network sees the whole frame), repeated over three channels."""
    grey = to_gray_u8(image)
    small = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return np.repeat(small[None].astype(np.float32) / 255.0, 3, axis=0)


@dataclass(frozen=True)
class ModalityVerdict:
    """The gate's answer for one image (or the mean over a volume's slices).

    Attributes:
        probs: probability per modality.
        expected: the modality the page analyses.
        refuse: True when ``probs[expected]`` is under the card's threshold.
    """

    probs: dict[str, float]
    expected: str
    refuse: bool

    @property
    def likely(self) -> str:
        """The most probable modality."""
        return max(self.probs, key=self.probs.__getitem__)

    def message(self, name: str) -> str:
        """What the page says when it refuses ``name``."""
        return (f"{name} looks like {WORDS[self.likely]} (modality check: {self.probs[self.likely]:.0%}), "
                f"not {WORDS[self.expected]}: nothing is analysed. If it is {WORDS[self.expected]}, "
                "export the frame without overlays or crops and try again.")


class ModalityGate:
    """The modality classifier of a weights folder.

    Args:
        model: the network (eval mode).
        card: its card: ``input.size`` [S, S], ``labels`` the modalities in logit order,
            ``postprocess.refuse_below`` the threshold.
    """

    def __init__(self, model: torch.nn.Module, card: ModelCard) -> None:
        if tuple(card.labels) != MODALITIES:
            raise ValueError(f"a modality card needs labels {list(MODALITIES)}, got {card.labels}")
        self.model, self.card = model.eval(), card
        self.size = int(card.input["size"][0])
        self.refuse_below = float(card.postprocess["refuse_below"])

    @classmethod
    def from_folder(cls, folder: str | Path) -> ModalityGate:
        """Load ``model.safetensors`` + ``model.json`` (sha256 checked)."""
        return cls(*load_model(folder))

    def probabilities(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Nx3 softmax probabilities, one row per image."""
        batch = torch.from_numpy(np.stack([prepare(im, self.size) for im in images]))
        with torch.inference_mode():
            return torch.softmax(self.model(batch), dim=1).numpy()

    def check(self, images: np.ndarray | Sequence[np.ndarray], expected: str) -> ModalityVerdict:
        """Judge one image, or several views of one upload (a volume's slices): their mean
        probability decides. Views without contrast are left out; with none left, nothing is
        refused (a blank upload gets its own message from the page)."""
        if expected not in MODALITIES:
            raise ValueError(f"expected must be one of {', '.join(MODALITIES)}, got {expected!r}")
        views = [images] if isinstance(images, np.ndarray) else list(images)
        views = [v for v in views if np.ptp(np.asarray(v)) > 0]  # a blank image is nobody's modality
        if not views:
            return ModalityVerdict({m: 1 / len(MODALITIES) for m in MODALITIES}, expected, False)
        mean = self.probabilities(views).mean(axis=0)
        probs = {m: float(p) for m, p in zip(MODALITIES, mean)}
        return ModalityVerdict(probs, expected, probs[expected] < self.refuse_below)


def volume_views(voxels: np.ndarray, n: int = 3) -> list[np.ndarray]:
    """``n`` axial slices of a ZxHxW(xC) volume around its middle (40-60%), the views the gate
    judges a volume by (a volume's first and last slices hold little)."""
    z = voxels.shape[0]
    picks = sorted({min(z - 1, int(round(f * (z - 1)))) for f in np.linspace(0.4, 0.6, n)})
    return [np.asarray(voxels[k], np.float32) for k in picks]
