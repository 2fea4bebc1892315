"""Face screening: a photo and its landmarks in, class probabilities from a region-wise ensemble out.

The face is ALIGNED by its eye centres (:func:`core.face.regions.align_face`, the card's
``input.size`` and ``input.align``) for the whole-face member, and each screening region is cut
from the photo as a square crop around its landmarks in that aligned frame
(:func:`core.face.regions.region_crop_matrices`). A region may be the union of several landmark
loops (``periocular``: both eyes and brows, so the intercanthal distance and the nasal bridge are
inside) and may have several views through one shared network (``cheeks``: the right cheek and
the MIRRORED left cheek). The members' softmax outputs are averaged, weighted by the card's
``postprocess.member_weights`` (equal by default); see :mod:`core.models.screening`.

The card's ``input`` section: ``size`` [S, S], ``resize`` ``"align_face"``, ``align``
(``eye_distance``, ``eye_y``), ``crop_size``, ``crop_margin``, ``regions`` (name -> list of views,
each ``{"points": [landmark indices], "mirror": bool}``), ``colour`` (``"none"``, or
``"skin_balance"``: every input scaled per channel so that the face's median skin colour becomes
``skin_tone``, see :func:`skin_gains`), ``mean``/``std`` of [0, 1] RGB pixels.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import cv2
import numpy as np
import torch
from torch import nn

from core.face.landmarks import FaceLandmarks
from core.face.region_net import align_spec
from core.face.regions import REGION_LOOPS, align_face, region_crop_matrices, region_masks, warp_photo
from core.models.screening import WHOLE_FACE, ScreeningNet, mean_softmax
from core.weights import ModelCard, WeightsError, load_model

__all__ = ["SCREEN_REGIONS", "SKIN_TONE", "WHOLE_FACE", "RegionView", "ScreeningInputs", "ScreeningNet",
           "ScreeningResult", "Screener", "prepare_inputs", "region_spec", "skin_gains", "to_tensor"]

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
SKIN_TONE = (180.0, 135.0, 115.0)  # RGB the median skin is balanced to (input.colour "skin_balance")
_NOT_SKIN = ("right_eye", "left_eye", "right_brow", "left_brow", "lips")
# Lower face oval from one mouth-corner level round the chin to the other (jaw and chin).
_JAW = (58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288)


@dataclass(frozen=True)
class RegionView:
    """One crop of a screening region.

    Attributes:
        points: landmark indices whose bounding box in the aligned frame is cropped.
        mirror: flip the crop left-right (a left-side view presented as a right-side one).
    """

    points: tuple[int, ...]
    mirror: bool = False

    def to_json(self) -> dict[str, Any]:
        """The view as the card stores it."""
        return {"points": list(self.points), "mirror": self.mirror}


def _loops(*names: str, extra: tuple[int, ...] = ()) -> tuple[int, ...]:
    return tuple(dict.fromkeys([i for n in names for i in REGION_LOOPS[n]] + list(extra)))


SCREEN_REGIONS: MappingProxyType[str, tuple[RegionView, ...]] = MappingProxyType({
    "periocular": (RegionView(_loops("right_eye", "left_eye", "right_brow", "left_brow", extra=(168,))),),
    "nose": (RegionView(_loops("nose")),),
    # Lips up to the base of the nose (subnasale 2, alar bases 98/327): the philtrum is inside.
    "mouth": (RegionView(_loops("lips", extra=(2, 98, 327))),),
    "forehead": (RegionView(_loops("forehead")),),
    "cheeks": (RegionView(_loops("right_cheek")), RegionView(_loops("left_cheek"), mirror=True)),
    # Mouth corners down to the chin.
    "lower_face": (RegionView(_loops(extra=(61, 291, 17, *_JAW))),),
})


@dataclass(frozen=True)
class ScreeningInputs:
    """What each member is shown for one face.

    Attributes:
        aligned: SxSx3 uint8 RGB eye-aligned face (the whole-face member's input).
        matrix: 2x3 float64 affine from the photo's pixels to ``aligned``.
        crops: region -> its views, each cxcx3 uint8 RGB (mirrored views already flipped).
        crop_matrices: region -> per view the 2x3 affine from the photo's pixels to that crop.
    """

    aligned: np.ndarray
    matrix: np.ndarray
    crops: dict[str, tuple[np.ndarray, ...]]
    crop_matrices: dict[str, tuple[np.ndarray, ...]]

    def member_image(self, member: str, view: int = 0) -> np.ndarray:
        """The HxWx3 uint8 image a member sees (``view`` picks among a region's views)."""
        if member == WHOLE_FACE:
            return self.aligned
        if member not in self.crops:
            raise KeyError(f"unknown member {member!r}; members: {WHOLE_FACE}, {', '.join(self.crops)}")
        views = self.crops[member]
        if not 0 <= view < len(views):
            raise IndexError(f"member {member!r} has {len(views)} view(s); got view={view}")
        return views[view]

    def member_matrix(self, member: str, view: int = 0) -> np.ndarray:
        """2x3 affine from the photo's pixels to that member's image."""
        if member == WHOLE_FACE:
            return self.matrix
        return self.crop_matrices[member][view]

    def mask_to_member(self, mask: np.ndarray, member: str, view: int = 0) -> np.ndarray:
        """An HxW bool mask on the photo's grid, moved into a member's image frame (hxw bool).

        Used to score Grad-CAM against known evidence (the pointing game): both then share one
        grid. A pixel is inside when at least half of it is covered after bilinear resampling.
        """
        size = self.member_image(member, view).shape[:2]
        warped = cv2.warpAffine(np.asarray(mask, np.float32), self.member_matrix(member, view),
                                (size[1], size[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        return warped >= 0.5


@dataclass(frozen=True)
class ScreeningResult:
    """The ensemble's prediction for one face.

    Attributes:
        labels: class names, in output order.
        inputs: the aligned face and crops the members saw.
        member_probs: member -> C float32 softmax probabilities (cheeks: mean over its views).
        probs: C float32: the weighted mean of the members' probabilities.
        top: the ``top_n`` most probable classes as (label, probability), most probable first.
        embedding: D float32 whole-face penultimate features (not normalised; for a gallery).
        member_weights: member -> weight used in the average.
    """

    labels: tuple[str, ...]
    inputs: ScreeningInputs
    member_probs: dict[str, np.ndarray]
    probs: np.ndarray
    top: list[tuple[str, float]]
    embedding: np.ndarray
    member_weights: dict[str, float]

    @property
    def aligned(self) -> np.ndarray:
        """The SxSx3 uint8 aligned face."""
        return self.inputs.aligned

    @property
    def crops(self) -> dict[str, tuple[np.ndarray, ...]]:
        """Region -> the crops shown to that member."""
        return self.inputs.crops

    @property
    def top_index(self) -> int:
        """Index of the most probable class."""
        return int(np.argmax(self.probs))


def region_spec(regions: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The card's ``input.regions`` for named regions of :data:`SCREEN_REGIONS`."""
    unknown = [r for r in regions if r not in SCREEN_REGIONS]
    if unknown:
        raise KeyError(f"unknown screening region(s) {unknown}; known: {', '.join(SCREEN_REGIONS)}")
    return {r: [v.to_json() for v in SCREEN_REGIONS[r]] for r in regions}


def _views(spec: Mapping[str, Any], regions: Sequence[str]) -> dict[str, tuple[RegionView, ...]]:
    stored = spec.get("regions") or region_spec(regions)
    missing = [r for r in regions if r not in stored]
    if missing:
        raise WeightsError(f"the card's input.regions lacks {missing}; the model has members {list(regions)}")
    return {r: tuple(RegionView(tuple(int(i) for i in v["points"]), bool(v.get("mirror", False)))
                     for v in stored[r]) for r in regions}


def prepare_inputs(rgb: np.ndarray, lm: FaceLandmarks, spec: Mapping[str, Any],
                   regions: Sequence[str]) -> ScreeningInputs:
    """Align the face and cut every region's crops as the card's ``input`` section says.

    Shared with ``train.classifier`` so that training and inference see the same pixels.

    Args:
        rgb: the photo the landmarks were detected on, HxWx3 uint8 RGB.
        lm: its 468/478-point Face Mesh landmarks.
        spec: the card's ``input`` dict.
        regions: the region members wanted.
    """
    aligned = align_face(rgb, lm, **align_spec(spec))
    size, margin = int(spec.get("crop_size", 96)), float(spec.get("crop_margin", 0.15))
    views = _views(spec, regions)
    keys = {f"{r}/{k}": v for r, vs in views.items() for k, v in enumerate(vs)}
    matrices = region_crop_matrices(lm, size, margin, {key: v.points for key, v in keys.items()})
    flip = np.array([[-1.0, 0.0, size - 1.0], [0.0, 1.0, 0.0]])
    for key, view in keys.items():
        if view.mirror:  # x -> size - 1 - x after the crop
            m = matrices[key]
            matrices[key] = np.hstack([flip[:, :2] @ m[:, :2], flip[:, :2] @ m[:, 2:] + flip[:, 2:]])
    images = warp_photo(rgb, lm, matrices, size)
    gains = skin_gains(aligned.image, aligned.landmarks, spec)
    crops = {r: tuple(_frozen(_balance(images[f"{r}/{k}"], gains)) for k in range(len(vs)))
             for r, vs in views.items()}
    mats = {r: tuple(_frozen(matrices[f"{r}/{k}"]) for k in range(len(vs))) for r, vs in views.items()}
    return ScreeningInputs(_frozen(_balance(aligned.image, gains)), _frozen(aligned.matrix), crops, mats)


def skin_gains(aligned: np.ndarray, lm: FaceLandmarks, spec: Mapping[str, Any]) -> np.ndarray | None:
    """Per-channel gains that bring the face's median skin colour to the card's ``skin_tone``.

    Only with ``input.colour == "skin_balance"`` (else None: pixels unchanged). The skin is the
    face oval without eyes, brows and lips, in the aligned face. Balancing takes out the photo's
    white balance and the person's overall skin tone, so that a class is told by its LOCAL colour
    (redness of the cheeks against the rest of the face), not by the colour of the whole photo.
    """
    if spec.get("colour", "none") == "none":
        return None
    if spec["colour"] != "skin_balance":
        raise WeightsError(f"unknown input.colour {spec['colour']!r}; expected 'none' or 'skin_balance'")
    masks = region_masks(lm, aligned.shape[:2])
    skin = masks["face_oval"] & ~np.any([masks[n] for n in _NOT_SKIN], axis=0)
    if skin.sum() < 64:  # too little skin to measure: leave the photo as it is
        return np.ones(3)
    median = np.maximum(np.median(aligned[skin].astype(np.float64), axis=0), 8.0)
    return np.asarray(spec.get("skin_tone", SKIN_TONE), np.float64) / median


def _balance(image: np.ndarray, gains: np.ndarray | None) -> np.ndarray:
    if gains is None:
        return image
    return np.clip(image.astype(np.float32) * gains.astype(np.float32) + 0.5, 0, 255).astype(np.uint8)


def to_tensor(images: np.ndarray | torch.Tensor, spec: Mapping[str, Any]) -> torch.Tensor:
    """...xHxWx3 uint8 RGB -> ...x3xHxW float32 normalised with the card's ``mean``/``std``."""
    # A copy: the arrays are read-only (shared between sessions) and torch wants writable memory.
    x = images if isinstance(images, torch.Tensor) else torch.tensor(np.asarray(images))
    x = x.movedim(-1, -3).float() / 255.0
    mean = torch.tensor(spec["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(spec["std"], dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)  # results are cached and shared between sessions
    return a


class Screener:
    """Runs a face screening ensemble on a photo and its landmarks, as its card prescribes.

    The model may be cached once per process and shared by every browser session: this class
    puts it in eval mode once, never changes it afterwards, and runs it under
    ``torch.inference_mode()``; predictions hold no state on the instance.
    """

    def __init__(self, model: nn.Module, card: ModelCard, device: str | torch.device = "cpu") -> None:
        if not isinstance(model, ScreeningNet):
            raise WeightsError(f"a Screener needs a ScreeningNet, got {type(model).__name__}")
        if len(card.labels) != model.classes:
            raise WeightsError(f"the card names {len(card.labels)} labels, "
                               f"the model has {model.classes} outputs")
        self.model = model.eval().to(memory_format=torch.channels_last)
        self.card = card
        self.labels = tuple(card.labels)
        self.device = torch.device(device)
        self.regions = model.regions
        self.views = _views(card.input, self.regions)
        self.member_weights = _member_weights(card.postprocess, model.members)
        _check_cam_stages(model, card)

    @classmethod
    def from_folder(cls, folder: str | Path, device: str = "cpu") -> Screener:
        """Load a weights folder (sha256 checked by :func:`core.weights.load_model`)."""
        model, card = load_model(folder, device=device)
        return cls(model, card, device)

    @property
    def members(self) -> tuple[str, ...]:
        """``"whole_face"`` then the region members."""
        return self.model.members

    def prepare(self, rgb: np.ndarray, lm: FaceLandmarks) -> ScreeningInputs:
        """The aligned face and region crops of one photo (see :func:`prepare_inputs`)."""
        return prepare_inputs(rgb, lm, self.card.input, self.regions)

    def tensors(self, inputs: Sequence[ScreeningInputs]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Normalised network inputs: Bx3xSxS faces and region -> BxVx3xcxc crops."""
        face = to_tensor(np.stack([i.aligned for i in inputs]), self.card.input)
        crops = {r: to_tensor(np.stack([np.stack(i.crops[r]) for i in inputs]), self.card.input)
                 for r in self.regions}
        return (face.to(self.device, memory_format=torch.channels_last),
                {r: c.to(self.device) for r, c in crops.items()})

    def member_tensor(self, inputs: ScreeningInputs, member: str, view: int = 0) -> torch.Tensor:
        """1x3xHxW normalised input of one member (one view of a region)."""
        return to_tensor(inputs.member_image(member, view)[None], self.card.input).to(self.device)

    def predict_inputs(self, inputs: Sequence[ScreeningInputs], top_n: int = 5) -> list[ScreeningResult]:
        """Predict prepared faces in one forward pass."""
        if not inputs:
            return []
        face, crops = self.tensors(inputs)
        with torch.inference_mode():
            logits, emb = self.model.forward_with_embedding(face, crops)
            probs = mean_softmax(logits, self.member_weights).cpu().numpy()
            member = {m: torch.softmax(x.float(), -1).cpu().numpy() for m, x in logits.items()}
            emb = emb.float().cpu().numpy()
        results = []
        for b, one in enumerate(inputs):
            p = probs[b].astype(np.float32)
            order = np.argsort(-p, kind="stable")[:max(1, int(top_n))]
            results.append(ScreeningResult(
                self.labels, one, {m: _frozen(v[b].astype(np.float32)) for m, v in member.items()},
                _frozen(p), [(self.labels[k], float(p[k])) for k in order], _frozen(emb[b]),
                dict(self.member_weights)))
        return results

    def predict(self, rgb: np.ndarray, lm: FaceLandmarks, top_n: int = 5) -> ScreeningResult:
        """Screen the face described by ``lm`` in ``rgb`` (HxWx3 uint8 RGB, the photo the landmarks
        were detected on); ``top_n`` entries in the result's top list."""
        return self.predict_inputs([self.prepare(rgb, lm)], top_n)[0]


def _member_weights(post: Mapping[str, Any], members: Sequence[str]) -> dict[str, float]:
    given = post.get("member_weights") or {}
    unknown = set(given) - set(members)
    if unknown:
        raise WeightsError(f"member_weights names {sorted(unknown)}, "
                           f"not members of the model ({list(members)})")
    weights = {m: float(given.get(m, 1.0)) for m in members}
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise WeightsError(f"member_weights must be non-negative and not all zero, got {weights}")
    return weights


def cam_stages(card: ModelCard, members: Sequence[str]) -> dict[str, int]:
    """The stage Grad-CAM hooks for each member, from the card's ``explain.cam_stage``.

    A card without an ``explain`` section (or a member it does not name) gives -1, the deepest
    stage, as before stages became selectable.

    Raises:
        WeightsError: the section names a member the model does not have, or a stage that is
            not an integer.
    """
    given = (card.explain or {}).get("cam_stage") or {}
    unknown = sorted(set(given) - set(members))
    if unknown:
        raise WeightsError(f"the card's explain.cam_stage names {unknown}, not members of the model "
                           f"({', '.join(members)})")
    bad = {m: s for m, s in given.items() if isinstance(s, bool) or not isinstance(s, int)}
    if bad:
        raise WeightsError(f"the card's explain.cam_stage must map members to integer stages, got {bad}")
    return {m: int(given.get(m, -1)) for m in members}


def _check_cam_stages(model: ScreeningNet, card: ModelCard) -> None:
    """Refuse, at load time, a card whose ``explain.cam_stage`` the model cannot hook (not at the
    first Grad-CAM a user asks for)."""
    for member, stage in cam_stages(card, model.members).items():
        try:
            model.member(member).cam_layer(stage)
        except IndexError as exc:
            raise WeightsError(f"the card's explain.cam_stage for {member}: {exc}") from None


def photo_embedding(screener: Screener, path: str | Path) -> np.ndarray:
    """The embedding of the face in a photo file (landmarks found, as a query's are): how a
    gallery photo is embedded (``core.face.gallery.gallery_from_folder``'s ``embed``)."""
    from core.face.landmarks import detect_landmarks, oriented_rgb

    rgb = oriented_rgb(path)
    return screener.predict(rgb, detect_landmarks(rgb), top_n=1).embedding
