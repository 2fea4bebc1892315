"""The kinds of proxy empty frame, in one place: how each is made, the option that asks for it, how
its frames are named in training and in a held-out folder, and how a card and a folder describe it.

A dataset whose frames all hold the structure (the shared Kaggle nerve copy) gets its empty frames
made: :mod:`train.transplant` covers the structure in place, :mod:`train.empty_crops` zooms into a
window that misses it. ``train.segmentation`` trains on the kinds asked for
(:mod:`train.seg_splits`), ``train.holdout`` writes them beside the held-out frames.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from train.empty_crops import crop_in_frame
from train.transplant import transplant_in_frame


@dataclass(frozen=True)
class ProxyKind:
    """One kind of proxy empty frame."""

    name: str  # "transplant", "crop": the config field <name>_empty turns it on
    make: Callable  # (image, mask, rng) -> ((empty, its mask), (control, its mask)) or None
    option: str  # the command-line option of train.segmentation and train.holdout
    case_prefix: str  # training cases are named <name>~<prefix>empty / <name>~<prefix>control
    offset: int  # a held-out folder names the proxy of frame n <subject>_<n + offset>
    what: str  # the held-out folder's words for it
    trained: str  # the card's words for what a training frame was also seen as


KINDS: tuple[ProxyKind, ...] = (
    ProxyKind("transplant", transplant_in_frame, "--transplant-empty", "", 100_000,
              "the nerve covered by tissue from beside it",
              "with its structure covered by tissue from beside it (an empty frame, mask all background) "
              "and with a control transplant elsewhere (train/transplant.py, --transplant-empty)"),
    ProxyKind("crop", crop_in_frame, "--crop-empty", "crop-", 200_000,
              "a zoomed window of the frame that misses the nerve",
              "as a zoomed window that misses the structure (an empty frame) and a window of the same "
              "zoom that holds it (a control; train/empty_crops.py, --crop-empty)"),
)


def chosen(*, transplant: bool = False, crop: bool = False) -> list[ProxyKind]:
    """The kinds switched on, in :data:`KINDS` order (the order their frames are made in)."""
    wanted = {"transplant": transplant, "crop": crop}
    return [k for k in KINDS if wanted[k.name]]


def card_text(kinds: list[ProxyKind]) -> str:
    """What a card says of the proxy empty frames a run trained on."""
    return ("The data holds no frame without the structure: each training frame was also seen "
            + "; and ".join(k.trained for k in kinds) + ". These are proxies, NOT real empty frames: "
            "validation on them says nothing certain of real empty frames.")
