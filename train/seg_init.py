"""Where a segmentation run starts: the weights of an earlier run (``train.segmentation --init``),
recorded in the card, with a one-channel FLAIR model allowed to start a multi-sequence one, a
single-slice model one that reads neighbouring slices too, and a model trained at one input size a
run at another (the networks are fully convolutional)."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from core.datasets.kaggle_3m import FLAIR
from core.weights import ModelCard, load_model

# arch_config keys that add no parameters: weights trained with either setting load into the other.
PARAMETER_FREE = ("antialias",)


def init_from(model: nn.Module, card: ModelCard, folder: Path) -> ModelCard:
    """Load the weights of ``folder`` into ``model`` (sha256-checked); the card records where they came from.

    A one-channel FLAIR model may start a multi-channel one: its first convolution's weights go
    to the FLAIR input (:func:`widen_first_conv`), so the new model starts as the FLAIR model and
    learns what the other sequences add. Likewise a model of lone slices may start one that reads
    neighbouring slices (the card's ``context_slices``): its weights go to the middle slice's inputs.
    Settings that add no parameters (``PARAMETER_FREE``: an anti-aliased encoder) may differ, and so
    may the input size (the card records both sizes).

    Raises:
        SystemExit: when that folder's architecture differs from this run's.
    """
    start, start_card = load_model(folder)
    def what(c: ModelCard) -> str:
        cfg = {k: v for k, v in c.arch_config.items() if k != "in_channels" and k not in PARAMETER_FREE}
        return json.dumps([c.arch, cfg], sort_keys=True)

    c_from, c_to = start_card.in_channels, card.in_channels
    first = widened_inputs(start_card, card)
    if what(start_card) != what(card) or (c_from != c_to and first is None):
        raise SystemExit(f"--init {folder}: its model ({start_card.arch}, {start_card.arch_config}, input "
                         f"{start_card.input['size']}) is not this run's ({card.arch}, {card.arch_config}, "
                         f"input {card.input['size']})")
    state = start.float().state_dict()
    note = ""
    if c_from != c_to:
        state = widen_first_conv(state, model.state_dict(), first)
        onto = "FLAIR input" if start_card.sequences < card.sequences else "sequences"
        onto = f"middle slice's {onto}" if card.context_slices else onto
        note = f"; its first layer's weights on the {onto}, zero on the other {c_to - c_from} inputs"
    model.load_state_dict(state)
    sizes = [list(c.input["size"]) for c in (start_card, card)]
    if sizes[0] != sizes[1]:
        note += f"; trained at a {sizes[0][0]}x{sizes[0][1]} input, this run at {sizes[1][0]}x{sizes[1][1]}"
    what = start_card.training.get("data", "?")
    return replace(card, training={**card.training, "init": f"the weights in {folder} (sha256 "
                                   f"{start_card.weights['sha256'][:12]}..., trained on {what}){note}"})


def widened_inputs(start: ModelCard, card: ModelCard) -> int | None:
    """Where the start model's input channels go among the new model's (the first of them), for a
    start that reads lone slices of one sequence (FLAIR) or of the new model's sequences; None when
    the start cannot be widened into the new model (another task, more sequences, its own context)."""
    if card.task != "brain_tumor" or start.context_slices or start.in_channels >= card.in_channels:
        return None
    middle = card.context_slices * card.sequences
    if start.sequences == card.sequences:
        return middle
    return middle + FLAIR if start.sequences == 1 and card.sequences == 3 else None


def widen_first_conv(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor], first: int
                     ) -> dict[str, torch.Tensor]:
    """A state dict made to fit ``target``'s wider input: every 4-D weight whose input dimension is
    C here and more there is put on inputs ``first .. first + C - 1``, zeros on the others."""
    out = dict(state)
    for key, w in state.items():
        t = target.get(key)
        if t is not None and w.ndim == 4 and t.ndim == 4 and w.shape[1] < t.shape[1] \
                and w.shape[0] == t.shape[0]:
            wide = torch.zeros_like(t)
            wide[:, first : first + w.shape[1]] = w
            out[key] = wide
    return out
