"""How a face parser copes with real backgrounds: its held-out FASSEG photos, whose studio background
is plain, re-scored with that background (label 0) replaced by real photographs.

    python -m train.parser_backgrounds --weights weights/face_regions/unet --data ../shared/data/fasseg \\
        [--record]

The photos are the persons the card says were held out of training (``training.held_out``); the
scenes are the photographs bundled with scikit-image (coffee, a cat, a rocket, the Hubble deep field,
a stained tissue section, brick, grass, gravel, a retina, a clock, printed text, a colour wheel), each
photo on one of them in turn, resized to the photo, the edge feathered as in training. No training
run uses them (``--background-mix`` draws procedural clutter, :mod:`train.parser_augment`), so the
check is out of sample for the scenes as well as the persons. Prints the plain and the composited
per-class IoU; ``--record`` writes the composited summary into the card as
``metrics.validation_real_backgrounds`` (person-resampled 95% interval, as the card's validation).
"""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.datasets.fasseg import CLASSES, FassegCase, read_fasseg
from core.face.parsing_eval import score_parser, summarise_scores
from core.face.region_net import FaceParser
from core.weights import read_card, write_card
from train.parser_augment import composite

RECORD = "validation_real_backgrounds"
SCENES = ("coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "brick", "grass",
          "gravel", "retina", "clock", "text", "colorwheel")


def scenes() -> list[np.ndarray]:
    """The bundled scikit-image photographs as HxWx3 uint8 RGB (grey ones repeated)."""
    import skimage.data

    out = []
    for name in SCENES:
        img = np.asarray(getattr(skimage.data, name)())
        out.append(np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img[..., :3])
    return out


@dataclass(frozen=True)
class OnScene(FassegCase):
    """A FASSEG case whose background pixels show ``scene`` (resized to the photo) instead."""

    scene: np.ndarray | None = field(default=None, compare=False, repr=False)

    def load(self) -> tuple[np.ndarray, np.ndarray]:
        image, labels = super().load()
        h, w = labels.shape
        back = cv2.resize(self.scene, (w, h), interpolation=cv2.INTER_AREA)
        return composite(image, labels, back, np.random.default_rng(0)), labels


def on_scenes(cases: list[FassegCase], backs: list[np.ndarray]) -> list[OnScene]:
    """Each case on the next scene in turn."""
    return [OnScene(**{k: getattr(c, k) for k in ("name", "image_path", "label_path", "group", "subset")},
                    scene=backs[i % len(backs)]) for i, c in enumerate(cases)]


def held_out_cases(weights: Path, data: Path) -> list[FassegCase]:
    """The photos of ``data`` whose persons the card at ``weights`` lists as held out."""
    held = set(read_card(weights).training.get("held_out") or [])
    if not held:
        raise SystemExit(f"{weights}: the card lists no held-out persons (training.held_out)")
    cases = [c for c in read_fasseg(data) if c.group in held]
    if not cases:
        raise SystemExit(f"{data}: none of the card's held-out persons ({', '.join(sorted(held))}) is here")
    return cases


def compare(parser: FaceParser, cases: list[FassegCase], backs: list[np.ndarray]
            ) -> dict[str, dict[str, Any]]:
    """``{"plain": summary, "on_scenes": summary}`` (:func:`core.face.parsing_eval.summarise_scores`)."""
    return {"plain": summarise_scores(score_parser(parser, cases), with_ci=True),
            "on_scenes": summarise_scores(score_parser(parser, on_scenes(cases, backs)), with_ci=True)}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m train.parser_backgrounds", description=__doc__.split("\n")[0])
    p.add_argument("--weights", type=Path, required=True, help="a face parser's weights folder")
    p.add_argument("--data", type=Path, required=True, help="the FASSEG folder it was trained from")
    p.add_argument("--record", action="store_true", help="write the result into the card")
    args = p.parse_args(argv)
    cases = held_out_cases(args.weights, args.data)
    result = compare(FaceParser.from_folder(args.weights), cases, scenes())
    for kind, s in result.items():
        print(f"{kind:10s} face mean IoU {s['mean_iou_face']:.4f} {s['mean_iou_face_ci95']}  "
              + " ".join(f"{c} {s['iou'][c]:.3f}" for c in CLASSES))
    if args.record:
        card = read_card(args.weights)
        persons = sorted({c.group for c in cases})
        plain = {k: result["plain"][k] for k in ("iou", "mean_iou_face", "mean_iou_face_ci95")}
        record = {**result["on_scenes"], "plain_same_photos": plain,
                  "data": (f"the {len(cases)} photos of the {len(persons)} held-out persons of {args.data} "
                           f"({', '.join(persons)}), their studio background (label 0) replaced by real "
                           f"photographs never used in training (scikit-image's {', '.join(SCENES)}), "
                           "one per photo in turn"),
                  "command": (f"python -m train.parser_backgrounds --weights {args.weights} "
                              f"--data {args.data} --record")}
        metrics = {**card.metrics, RECORD: record}
        write_card(args.weights, replace(card, metrics=metrics))
        print(f"recorded in {args.weights}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
