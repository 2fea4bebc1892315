"""The screening ensemble a configuration describes: its card and a fresh (or warm-started) network."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch

from core.face.screening import MEAN, SKIN_TONE, STD, region_spec
from core.models import create_model
from core.models.screening import ScreeningNet
from core.weights import ModelCard
from train.classifier.config import ClassifierConfig

log = logging.getLogger("train.classifier")


def input_spec(args: ClassifierConfig) -> dict:
    """The card's ``input`` section for these arguments."""
    return {"size": [args.face_size, args.face_size], "resize": "align_face",
            "align": {"eye_distance": args.eye_distance, "eye_y": args.eye_y},
            "crop_size": args.crop_size, "crop_margin": args.crop_margin,
            "regions": region_spec(args.regions), "colour": args.colour,
            **({"skin_tone": list(SKIN_TONE)} if args.colour == "skin_balance" else {}),
            "mean": MEAN, "std": STD}


def screening_card(args: ClassifierConfig, labels: list[str], training: dict | None = None) -> ModelCard:
    """The card of a screening ensemble: architecture, aligned input and crops, labels, averaging."""
    members = ["whole_face", *args.regions]
    return ModelCard(
        task="face_screening", arch="screening_net",
        arch_config={"classes": len(labels), "regions": list(args.regions), "widths": list(args.widths),
                     "region_widths": list(args.region_widths), "dropout": 0.2,
                     "whole_face_backbone": args.backbone, **_pools(args)},
        labels=list(labels), input=input_spec(args),
        postprocess={"ensemble": "mean_softmax", "member_weights": {m: 1.0 for m in members}},
        title=f"Face screening ({args.screen_task}): whole-face CNN + {len(args.regions)} region CNNs, ours",
        training=training or {"synthetic": bool(args.phantoms), "screen_task": args.screen_task})


def _pools(args: ClassifierConfig) -> dict[str, Any]:
    """The pooling entries of the architecture; none when every member averages (the cards written
    before pooling was selectable read the same)."""
    if args.pool == "avg" and args.region_pool == "avg":
        return {}
    return {"pool": args.pool, "region_pool": args.region_pool, "lse_r": float(args.lse_r)}


def new_model(args: ClassifierConfig, n_classes: int, seed: int) -> ScreeningNet:
    """A fresh ensemble (random init, or ``--pretrained`` tensors where names and shapes match)."""
    torch.manual_seed(seed)
    model = create_model("screening_net", classes=n_classes, regions=list(args.regions),
                         widths=list(args.widths), region_widths=list(args.region_widths), dropout=0.2,
                         whole_face_backbone=args.backbone, **_pools(args))
    if args.pretrained:
        load_pretrained(model, args.pretrained)
    return model.to(memory_format=torch.channels_last)


def load_pretrained(model: torch.nn.Module, path: Path) -> int:
    """Copy tensors from a local safetensors file (or weights folder) whose names and shapes match.

    Returns:
        How many tensors were copied. Never unpickles; a file with no matching tensor is an error.
    """
    from safetensors.torch import load_file

    file = path / "model.safetensors" if path.is_dir() else path
    if not file.is_file():
        raise SystemExit(f"--pretrained {path}: no safetensors file there")
    source = load_file(str(file))
    state = model.state_dict()
    # Our own weights folders match by name; a torchvision checkpoint's "features.*" tensors match the
    # whole-face backbone's ("whole_face.features_net.*").
    def target(k: str) -> str | None:
        tv = "whole_face.features_net." + k.removeprefix("features.") if k.startswith("features.") else k
        return next((c for c in (k, tv) if c in state and source[k].shape == state[c].shape), None)

    names = {k: target(k) for k in source}
    matched = {c: source[k].to(state[c].dtype) for k, c in names.items() if c is not None}
    if not matched:
        raise SystemExit(f"--pretrained {file}: no tensor matches the model by name and shape")
    model.load_state_dict(matched, strict=False)
    log.info("--pretrained: %d of %d model tensors loaded from %s", len(matched), len(state), file)
    return len(matched)
