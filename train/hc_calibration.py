"""Calibrate a fetal head model's outline against the reference ellipses, on its TRAINING frames.

    python -m train.hc_calibration --weights runs/hc18_unet --data ../shared/data/hc18

A head mask's boundary pixels do not lie exactly on the sonographer's ellipse: the filled HC18
annotations already reach about one pixel past it, and a model that learnt them adds its own
margin. The HC measured from a mask is therefore biased by a near-constant number of frame pixels
(in HC terms ``2 * pi * offset * pixel size``), the same for small and large heads. This command
measures that offset on the frames the run trained on (the exams ``train.segmentation`` did NOT
hold out: same ``--seed`` and ``--val-frac``), as the median over frames of
``(HC of the fitted ellipse - reference HC) / (2 * pi * pixel size)``, and writes it to the card's
``postprocess["outline_offset_px"]``, which every reading of the model then applies
(:func:`core.analysis.fetal_biometry.measure_head`). Validation frames are never looked at.

``--tta`` sets the card's test-time views first (the offset is that of the views' consensus mask).
The weights file is not touched: its sha256 stays as it is.
"""
from __future__ import annotations

import argparse
import logging
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

from core.analysis.fetal_biometry import BiometryError, measure_head
from core.datasets import read_labelled
from core.predict import Segmenter
from core.predict.tta import parse_transforms
from core.weights import load_model, write_card
from train.data import is_validation

log = logging.getLogger("train.hc_calibration")


def outline_offsets(segmenter: Segmenter, data: Path, *, seed: int = 0, val_frac: float = 0.1,
                    every: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per training frame of an HC18 folder: the model's outline offset and the annotation's (pixels).

    Args:
        segmenter: the model, with the test-time views it will be used with.
        data: HC18 folder (its CSV gives the reference HC and the pixel size).
        seed, val_frac: the split of the training run; held-out exams are skipped.
        every: use every n-th training frame (1: all).
    """
    model, truth, k = [], [], 0
    for case in read_labelled("hc18", data):
        ref, px = case.meta.get("hc_mm"), case.pixel_size_mm
        if not ref or not px or is_validation(case.group, seed, val_frac):
            continue
        k += 1
        if (k - 1) % every:
            continue
        per_px = 2 * math.pi * px
        try:
            model.append((measure_head(segmenter.predict(case.image).mask, px).hc_mm - ref) / per_px)
        except BiometryError:
            pass  # a frame without a measurable head says nothing about the outline's margin
        if case.mask is not None:
            truth.append((measure_head(case.mask, px).hc_mm - ref) / per_px)
    return np.asarray(model), np.asarray(truth)


def calibrate(folder: Path, data: Path, *, seed: int = 0, val_frac: float = 0.1, every: int = 1,
              tta: list[str] | None = None) -> dict[str, float]:
    """Measure the outline offset of the weights in ``folder`` and write it into its card.

    Returns:
        What is recorded in the card's ``training["calibration"]``.
    """
    model, card = load_model(folder)  # sha256 checked
    post = {**card.postprocess, "outline_offset_px": 0.0}
    if tta is not None:
        parse_transforms(tta)  # refuse a bad name before any work
        post["tta"] = list(tta)
    # The model as it will be read (these views), with no offset yet: the card is written once, at the end.
    segmenter = Segmenter(model, replace(card, postprocess=post))
    offsets, truth = outline_offsets(segmenter, data, seed=seed, val_frac=val_frac, every=every)
    if not len(offsets):  # a model that finds no head anywhere: nothing to calibrate, say so
        log.warning("%s: no training frame with a reference HC and a measurable head: not calibrated", folder)
    q1, med, q3 = np.percentile(offsets, [25, 50, 75]) if len(offsets) else (0.0, 0.0, 0.0)
    record = {"outline_offset_px": round(float(med), 3), "iqr_px": [round(float(q1), 3), round(float(q3), 3)],
              "n_frames": int(len(offsets)),
              "annotation_offset_px": round(float(np.median(truth)), 3) if len(truth) else None,
              "how": "median over training frames of (HC of the fitted ellipse - reference HC) / "
                     "(2 pi pixel size); validation exams not used",
              "command": f"python -m train.hc_calibration --weights {folder} --data {data} --seed {seed} "
                         f"--val-frac {val_frac} --every {every}"
                         + (f" --tta {' '.join(tta)}" if tta else "")}
    post["outline_offset_px"] = record["outline_offset_px"]
    write_card(folder, replace(card, postprocess=post, training={**card.training, "calibration": record}))
    log.info("%s: outline offset %.3f px (IQR %.3f-%.3f, n=%d; the annotations' own: %s px)", folder,
             med, q1, q3, len(offsets), record["annotation_offset_px"])
    return record


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m train.hc_calibration", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, required=True,
                   help="fetal head weights folder (its card is updated)")
    p.add_argument("--data", type=Path, required=True, help="the HC18 folder the model was trained on")
    p.add_argument("--seed", type=int, default=0, help="the training run's split seed (default 0)")
    p.add_argument("--val-frac", type=float, default=0.1,
                   help="the training run's held-out share (default 0.1)")
    p.add_argument("--every", type=int, default=1, help="use every n-th training frame (default 1: all)")
    p.add_argument("--tta", nargs="*", default=None, metavar="VIEW",
                   help="set the card's test-time views first, e.g. hflip zoom:0.9 (none given: keep the "
                        "card's)")
    a = p.parse_args(argv)
    calibrate(a.weights, a.data, seed=a.seed, val_frac=a.val_frac, every=max(1, a.every), tta=a.tta)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
