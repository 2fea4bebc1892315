"""Train the modality check (ultrasound / MRI / other) that gates every page's uploads.

    python -m train.modality --data ../shared/data --out weights/modality/cnn --time-limit-min 12

Data (:mod:`train.modality_data`): the real HC18 and nerve ultrasound frames, LGG MRI slices and
FASSEG face photographs of the shared data folder, split by exam / subject / patient / person
(``--val-fraction`` of each dataset's units held out, seeded), plus training-only phantoms,
scikit-image samples and drawn pages. Batches are balanced over the three classes and, within a
class, over its sources; every picture is augmented (:func:`train.modality_data.augment`).

The card records, on the held-out real pictures, per source: accuracy, and how often each page's
gate refuses them under the card's ``refuse_below`` (fixed by ``--refuse-below`` BEFORE training,
never tuned on these pictures), with 95% Wilson intervals over the held-out units (exams,
subjects, patients, persons) -- conservative, as frames of one unit are alike.
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.metrics import wilson_ci
from core.models import create_model
from core.models.modality import MODALITIES
from core.predict.modality import prepare
from core.weights import ModelCard, save_model, write_history
from train.config import RunConfig
from train.data import is_validation
from train.modality_data import REAL_SOURCES, SOURCE_CLASS, Item, augment, grey_view, read_extras, read_real

log = logging.getLogger(__name__)
# Each class's share of a batch split over its sources (the rest of a class's share is equal).
SOURCE_WEIGHT = {"hc18": 0.35, "nerve": 0.35, "fetal_phantom": 0.15, "nerve_phantom": 0.15,
                 "lgg": 0.8, "brain_phantom": 0.2, "fasseg": 0.4, "pictures": 0.25, "lfw": 0.1, "drawn": 0.25}
# The page that analyses each modality, for the report ("other": the face pages).
PAGES = {"ultrasound": "fetal and nerve pages", "mri": "brain page", "other": "face pages"}


@dataclass(frozen=True, kw_only=True)
class ModalityConfig(RunConfig):
    """What a ``train.modality`` run was given (see ``--help``)."""

    data: Path
    out: Path = Path("runs/modality")
    size: int = 128
    widths: tuple[int, ...] = (8, 16, 32, 64)
    epochs: int = 80
    steps_per_epoch: int = 40
    batch_size: int = 48
    lr: float = 2e-3
    val_fraction: float = 0.2
    phantoms: int = 150
    refuse_below: float = 0.05
    seed: int = 0
    threads: int = 2
    time_limit_min: float = 0.0


def parse_args(argv: Sequence[str] | None = None) -> ModalityConfig:
    """Command line -> :class:`ModalityConfig`."""
    d = ModalityConfig(data=Path("."))
    p = argparse.ArgumentParser(prog="python -m train.modality", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True,
                   help="the shared data folder (hc18/, nerve/, lgg/, fasseg/)")
    p.add_argument("--out", type=Path, default=d.out, help="weights folder to write")
    p.add_argument("--size", type=int, default=d.size, help="network input side, px")
    p.add_argument("--widths", type=int, nargs="+", default=list(d.widths), help="channels per stage")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--steps-per-epoch", type=int, default=d.steps_per_epoch)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="share of each dataset's units (exams, subjects, patients, persons) held out")
    p.add_argument("--phantoms", type=int, default=d.phantoms, help="training-only extras per kind")
    p.add_argument("--refuse-below", type=float, default=d.refuse_below,
                   help="the gate refuses when the page's modality has a probability under this")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--time-limit-min", type=float, default=d.time_limit_min, help="0: no limit")
    argv = list(argv) if argv is not None else None
    ns = p.parse_args(argv)
    ns.widths = tuple(ns.widths)
    return ModalityConfig.from_args(ns, argv if argv is not None else sys.argv[1:])


def split(items: Sequence[Item], cfg: ModalityConfig) -> tuple[list[Item], list[Item]]:
    """(training, held-out): real pictures by their unit; extras always train."""
    train, val = [], []
    for it in items:
        held = it.source in REAL_SOURCES and is_validation(it.group, cfg.seed, cfg.val_fraction)
        (val if held else train).append(it)
    return train, val


def sampling_weights(items: Sequence[Item]) -> np.ndarray:
    """Per-item probability: a third per class, split over the class's sources present."""
    by_source: dict[str, int] = defaultdict(int)
    for it in items:
        by_source[it.source] += 1
    share: dict[str, float] = {}
    for m in MODALITIES:
        sources = [s for s in by_source if SOURCE_CLASS[s] == m]
        total = sum(SOURCE_WEIGHT[s] for s in sources)
        for s in sources:
            share[s] = SOURCE_WEIGHT[s] / total / len(MODALITIES)
    w = np.array([share[it.source] / by_source[it.source] for it in items])
    return w / w.sum()


def batch(items: Sequence[Item], idx: np.ndarray, rng: np.random.Generator, size: int
          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Augmented Bx3xSxS inputs and their labels."""
    x = np.stack([augment(grey_view(items[i], rng), rng, size) for i in idx])
    return (torch.from_numpy(np.repeat(x[:, None], 3, axis=1)),
            torch.tensor([items[i].label for i in idx], dtype=torch.long))


def predict(model: torch.nn.Module, items: Sequence[Item], size: int, views: str = "page") -> np.ndarray:
    """Nx3 probabilities of the pictures as a page would judge them (``views="flair"``: an LGG
    slice's FLAIR channel alone, as a single-sequence volume shows it)."""
    out = []
    model.eval()
    with torch.inference_mode():
        for k in range(0, len(items), 64):
            chunk = items[k:k + 64]
            ims = [it.image[..., 1] if views == "flair" else grey_view(it) for it in chunk]
            x = torch.from_numpy(np.stack([prepare(im, size) for im in ims]))
            out.append(torch.softmax(model(x), 1).numpy())
    return np.concatenate(out) if out else np.zeros((0, len(MODALITIES)))


def report(model: torch.nn.Module, val: Sequence[Item], cfg: ModalityConfig) -> dict[str, Any]:
    """Per held-out source (and LGG's FLAIR channel alone): n, units, accuracy, and the refusal
    rate of each page's gate with its 95% Wilson interval over the units."""
    rows: dict[str, Any] = {}
    views = [(s, s, "page") for s in REAL_SOURCES] + [("lgg_flair_only", "lgg", "flair")]
    for key, source, how in views:
        items = [it for it in val if it.source == source]
        if not items:
            continue
        probs = predict(model, items, cfg.size, how)
        units = len({it.group for it in items})
        label = MODALITIES.index(SOURCE_CLASS[source])
        row: dict[str, Any] = {"n": len(items), "units": units, "modality": SOURCE_CLASS[source],
                               "accuracy": float(np.mean(probs.argmax(1) == label))}
        for m, page in PAGES.items():
            rate = float(np.mean(probs[:, MODALITIES.index(m)] < cfg.refuse_below))
            lo, hi = wilson_ci(rate, units)
            row[f"refused_on_{m}"] = {"page": page, "rate": rate, "ci95": [lo, hi],
                                      "false_refusal": m == SOURCE_CLASS[source]}
        rows[key] = row
    return rows


def train(cfg: ModalityConfig) -> ModelCard:
    """Load, split, train, score on the held-out pictures, save weights + card + history."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    deadline = t0 + cfg.time_limit_min * 60 if cfg.time_limit_min else float("inf")
    train_items, val = split([*read_real(cfg.data), *read_extras(cfg.phantoms, cfg.seed)], cfg)
    counts = {s: sum(it.source == s for it in train_items) for s in SOURCE_CLASS}
    log.info("loaded in %.0f s: train %s; held out %d", time.perf_counter() - t0, counts, len(val))
    model = create_model("modality_cnn", widths=cfg.widths)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    total = cfg.epochs * cfg.steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=total, pct_start=0.1)
    weights, rng, history = sampling_weights(train_items), np.random.default_rng(cfg.seed), []
    for epoch in range(cfg.epochs):
        model.train()
        losses = []
        for _ in range(cfg.steps_per_epoch):
            x, y = batch(train_items, rng.choice(len(train_items), cfg.batch_size, p=weights), rng, cfg.size)
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "seconds": round(time.perf_counter() - t0, 1)})
        log.info("epoch %d loss %.4f (%.0f s)", epoch + 1, history[-1]["loss"], history[-1]["seconds"])
        if time.perf_counter() > deadline:
            log.info("time limit reached after epoch %d", epoch + 1)
            break
    model.eval()
    held = report(model, val, cfg)
    card = ModelCard(
        task="modality", arch="modality_cnn", arch_config={"widths": list(cfg.widths)},
        labels=list(MODALITIES), input={"size": [cfg.size, cfg.size], "grey": True, "resize": "squash"},
        postprocess={"refuse_below": cfg.refuse_below},
        training={"synthetic": False, "command": cfg.command("train.modality"), "config": cfg.to_json(),
                  "data": "real HC18 and Kaggle nerve ultrasound frames, LGG (kaggle_3m) MRI slices and "
                          "FASSEG face photographs, split by exam/subject/patient/person; plus phantoms, "
                          "scikit-image / scikit-learn sample pictures, scikit-image's LFW face crops and "
                          "drawn pages (training only)",
                  "train_counts": counts, "epochs_run": len(history),
                  "minutes": round((time.perf_counter() - t0) / 60, 1)},
        metrics={"validation": {"held_out": held, "refuse_below": cfg.refuse_below,
                                "ci": "95% Wilson interval over held-out units (exams, subjects, patients, "
                                      "persons), conservative"}},
        title="Modality check (ultrasound / MRI / other)",
        intended_use="Refuses uploads that are confidently another kind of image than the page "
                     "analyses; never measures or diagnoses anything.")
    card = save_model(model, card, cfg.out)
    write_history(cfg.out, history)
    return card


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    card = train(parse_args(argv))
    for key, row in card.metrics["validation"]["held_out"].items():
        refusals = ", ".join(f"{k.removeprefix('refused_on_')} {v['rate']:.3f}" for k, v in row.items()
                             if k.startswith("refused_on_"))
        print(f"{key:16s} n={row['n']:5d} units={row['units']:3d} acc={row['accuracy']:.3f} "
              f"refused: {refusals}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
