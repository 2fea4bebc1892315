"""Where a segmentation run starts: the weights of an earlier run (``train.segmentation --init``),
recorded in the card, with a one-channel FLAIR model allowed to start a multi-sequence one."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from core.datasets.kaggle_3m import FLAIR
from core.weights import ModelCard, load_model


def init_from(model: nn.Module, card: ModelCard, folder: Path) -> ModelCard:
    """Load the weights of ``folder`` into ``model`` (sha256-checked); the card records where they came from.

    A one-channel FLAIR model may start a multi-channel one: its first convolution's weights go
    to the FLAIR input (:func:`widen_first_conv`), so the new model starts as the FLAIR model and
    learns what the other sequences add.

    Raises:
        SystemExit: when that folder's architecture or input size differs from this run's.
    """
    start, start_card = load_model(folder)
    def what(c: ModelCard) -> str:
        cfg = {k: v for k, v in c.arch_config.items() if k != "in_channels"}
        return json.dumps([c.arch, cfg, c.input["size"]], sort_keys=True)

    c_from, c_to = start_card.in_channels, card.in_channels
    if what(start_card) != what(card) or (c_from != c_to and (c_from != 1 or card.task != "brain_tumor")):
        raise SystemExit(f"--init {folder}: its model ({start_card.arch}, {start_card.arch_config}, input "
                         f"{start_card.input['size']}) is not this run's ({card.arch}, {card.arch_config}, "
                         f"input {card.input['size']})")
    state = start.float().state_dict()
    note = ""
    if c_from != c_to:
        state = widen_first_conv(state, model.state_dict(), FLAIR)
        note = f"; its first layer's weights on the FLAIR input, zero on the other {c_to - 1}"
    model.load_state_dict(state)
    what = start_card.training.get("data", "?")
    return replace(card, training={**card.training, "init": f"the weights in {folder} (sha256 "
                                   f"{start_card.weights['sha256'][:12]}..., trained on {what}){note}"})


def widen_first_conv(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor], channel: int
                     ) -> dict[str, torch.Tensor]:
    """A one-input-channel state dict made to fit ``target``'s wider input: every weight whose
    input dimension is 1 here and C there is put on input ``channel``, zeros on the others."""
    out = dict(state)
    for key, w in state.items():
        t = target.get(key)
        if t is not None and w.ndim == 4 and t.ndim == 4 and w.shape[1] == 1 and t.shape[1] > 1 \
                and w.shape[0] == t.shape[0]:
            wide = torch.zeros_like(t)
            wide[:, channel] = w[:, 0]
            out[key] = wide
    return out
