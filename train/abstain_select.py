"""Choose (again) a trained screener's out-of-range thresholds on held-out real people; the weights
are not touched.

    python -m train.abstain_select --weights weights/face_screening/skin --identities PHOTOS... \\
        --held-out-persons 7

The same person split as the training run (``--identities``, ``--held-out-persons``,
``--identity-seed`` as it was given), the same held-out test phantoms (``--test-phantoms``,
``--test-seed``), the same rule (:mod:`train.classifier.abstention`): the card's
``postprocess.abstain`` and ``metrics.abstain_validation`` are rewritten and the command recorded.
``train.classifier --identities`` does this at the end of training; this command redoes it, for
example after the rule's definition changed.
"""
from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from core.face.abstain import TRAINING_GALLERY
from core.face.gallery import Gallery
from core.face.screening import Screener
from core.tasks import get_task
from core.weights import sha256_bytes, write_card
from train.classifier.abstention import calibrate
from train.classifier.data import phantom_faces
from train.config import RunConfig
from train.face_identities import identity_split

log = logging.getLogger("train.abstain_select")
SCREENING = get_task("face_screening")


@dataclass(frozen=True, kw_only=True)
class AbstainSelectConfig(RunConfig):
    """What a ``train.abstain_select`` run is given (the options' help says what each field means)."""

    weights: Path
    identities: list[Path]
    held_out_persons: int
    identity_seed: int = 0
    test_phantoms: int = 200
    test_seed: int = 2026
    abstain_target: float = 0.95


def parse_args(argv: list[str] | None = None) -> AbstainSelectConfig:
    """The configuration from a command line (``sys.argv[1:]`` when ``argv`` is None)."""
    p = argparse.ArgumentParser(prog="python -m train.abstain_select", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, required=True, help="a screening weights folder with gallery.npz")
    p.add_argument("--identities", type=Path, nargs="+", required=True,
                   help="the photos (files or folders) the training run drew its phantoms on")
    p.add_argument("--held-out-persons", type=int, required=True, help="as given to the training run")
    p.add_argument("--identity-seed", type=int, default=0, help="as given to the training run")
    p.add_argument("--test-phantoms", type=int, default=200)
    p.add_argument("--test-seed", type=int, default=2026)
    p.add_argument("--abstain-target", type=float, default=0.95,
                   help="share of held-out real no-condition faces that must get the no-condition class "
                        "or out-of-range")
    tokens = sys.argv[1:] if argv is None else list(argv)
    return AbstainSelectConfig.from_args(p.parse_args(tokens), tokens)


def select(args: AbstainSelectConfig) -> dict:
    """Rewrite the card's rule and its validation; returns the rule."""
    screener = Screener.from_folder(args.weights)
    card = screener.card
    task = card.training.get("screen_task")
    if task not in SCREENING.rows:
        raise SystemExit(f"{args.weights}: not a screening card of a known task ({task!r})")
    gallery_path = args.weights / TRAINING_GALLERY
    if not gallery_path.is_file():
        raise SystemExit(f"{args.weights}: no {TRAINING_GALLERY} (train with --gallery-out)")
    split = identity_split(args.identities, args.held_out_persons, args.identity_seed)
    if not split.held_out:
        raise SystemExit("no held-out person with a face: raise --held-out-persons")
    faces = phantom_faces(task, args.test_phantoms, args.test_seed, "train", sources=split.held_out)
    spec, validation = calibrate(screener, Gallery.load(gallery_path), split.held_out, faces,
                                 SCREENING.row(task).no_finding, args.abstain_target,
                                 len(split.held_out_persons))
    spec["gallery_sha256"] = sha256_bytes(gallery_path.read_bytes())
    spec["command"] = args.command("train.abstain_select")
    write_card(args.weights, replace(card, postprocess={**card.postprocess, "abstain": spec},
                                     metrics={**card.metrics, "abstain_validation": validation}))
    log.info("%s: %s; real no-condition faces %s", args.weights, spec, validation["real_no_condition"])
    return spec


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    select(parse_args(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
