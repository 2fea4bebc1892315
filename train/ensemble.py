"""Build one weights folder from several trained segmentation models: their mean ensemble.

    python -m train.ensemble --members runs/ship_cp128 runs/ship_e72 --out weights/brain_tumor/unet

The members must be the same architecture, read their input the same way (the card's ``input``),
have the same labels and post-processing, and (when their cards name them) have trained on the same
patients: an ensemble of models that saw different patients has no honest held-out set. The result is
the ``mean_ensemble`` architecture (:mod:`core.models.ensemble`: the members' probabilities averaged)
with the first member's threshold and post-processing, so every tool that loads one model loads it.
Its weights are stored as int8 with a scale per output channel (``--dtype``; :func:`core.weights.
quantize_int8`), so two 4-million-parameter networks fit the size of one float16 network. The card's
``training.members`` records each member's folder, sha256, command and stages, its ``history.csv``
the members' training curves (column ``run``); its ``metrics`` start empty: measure it with
``train.evaluate --record``.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import torch

from core.models import create_model
from core.weights import HISTORY_FILE, ModelCard, load_model, save_model, write_history

DTYPES = {"int8": torch.int8, "float16": torch.float16}
SAME = ("task", "arch", "arch_config", "labels", "input", "postprocess")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m train.ensemble", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=Path, nargs="+", required=True, help="trained weights folders")
    p.add_argument("--out", type=Path, required=True, help="the ensemble's weights folder")
    p.add_argument("--dtype", choices=tuple(DTYPES), default="int8", help="how the weights are stored")
    p.add_argument("--title", default="", help="the card's title (default: the first member's, marked)")
    return p.parse_args(argv)


def check_members(cards: list[tuple[Path, ModelCard]]) -> None:
    """Refuse members that would not average into one honest model.

    Raises:
        SystemExit: fewer than two members, an ensemble among them, or a member that differs from
            the first in architecture, input, labels, post-processing or training patients.
    """
    if len(cards) < 2:
        raise SystemExit("an ensemble needs at least two members")
    first_folder, first = cards[0]
    for folder, card in cards:
        if card.arch == "mean_ensemble":
            raise SystemExit(f"{folder}: already an ensemble; list its members instead")
        for key in SAME:
            if getattr(card, key) != getattr(first, key):
                raise SystemExit(f"{folder}: its {key} ({getattr(card, key)}) differs from "
                                 f"{first_folder}'s ({getattr(first, key)})")
        groups, first_groups = card.training.get("train_groups"), first.training.get("train_groups")
        if sorted(groups or []) != sorted(first_groups or []):
            raise SystemExit(f"{folder}: trained on other patients than {first_folder} "
                             "(training.train_groups differ)")


def member_record(folder: Path, card: ModelCard) -> dict[str, Any]:
    """What the ensemble's card keeps of one member: where it came from and how it was trained."""
    keep = ("command", "stages", "epochs", "lr", "augmentation", "init", "minutes", "device", "date")
    return {"folder": str(folder), "sha256": card.weights.get("sha256", ""),
            **{k: card.training[k] for k in keep if k in card.training}}


def build(members: list[Path], out: Path, *, dtype: str = "int8", title: str = "",
          command: str = "") -> ModelCard:
    """Load the members (sha256 checked), check them, and write their ensemble to ``out``."""
    loaded = [(f, *load_model(f)) for f in members]
    check_members([(f, c) for f, _, c in loaded])
    first = loaded[0][2]
    config = {"member_arch": first.arch, "members": len(loaded), **first.arch_config}
    model = create_model("mean_ensemble", **config)
    for slot, (_, net, _) in zip(model.members, loaded):
        slot.load_state_dict(net.state_dict())
    training = {k: first.training[k] for k in ("synthetic", "data", "split", "train_groups", "torch")
                if k in first.training}
    training.update(command=command, members=[member_record(f, c) for f, _, c in loaded])
    card = ModelCard(task=first.task, arch="mean_ensemble", arch_config=config, labels=list(first.labels),
                     input=dict(first.input), postprocess=dict(first.postprocess), training=training,
                     title=title or f"{first.title} (mean of {len(loaded)} networks)",
                     intended_use=first.intended_use)
    card = save_model(model.eval(), card, out, dtype=DTYPES[dtype])
    write_history(out, member_histories(members))
    return card


def member_histories(members: list[Path]) -> list[dict[str, Any]]:
    """The members' ``history.csv`` rows, each with a ``run`` column naming its member (the model lab
    draws one curve per run)."""
    rows: list[dict[str, Any]] = []
    for i, folder in enumerate(members):
        path = folder / HISTORY_FILE
        if path.is_file():
            with path.open(newline="") as fh:
                rows += [{"run": f"member {i}: {folder.name}", **row} for row in csv.DictReader(fh)]
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = "python -m train.ensemble " + " ".join(sys.argv[1:] if argv is None else argv)
    card = build(list(args.members), args.out, dtype=args.dtype, title=args.title, command=command)
    print(f"wrote {args.out}: {card.arch_config['members']} members, {card.weights['bytes'] / 1e6:.1f} MB "
          f"({card.weights['dtype']}), sha256 {card.weights['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
