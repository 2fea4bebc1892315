"""Choose the Grad-CAM stage of each member of a face screening ensemble on VALIDATION phantoms.

    python -m train.cam_select --weights weights/face_screening/skin --task skin
    python -m train.cam_select --weights weights/face_screening/skin --n 120 --stages -1 -2 -3

No retraining: the weights file and its sha256 stay as they are; only model.json changes.

1. Validation phantoms: ``--n`` faces of the TRAINING identity, their shape varied by
   ``--val-identity-variation`` (default 0.7, so that the choice is made on not-quite-seen faces;
   the held-out identity stays the untouched test), with ``--val-seed`` (default 7001),
   a seed that neither the training phantoms (the card's ``--phantom-seed``) nor its test
   (``--test-seed``) use; the command refuses a seed that they do.
2. For every member and every candidate stage (``--stages``; -1 the deepest, -2 the one before at
   twice the resolution, ...; a member with fewer stages skips the rest) the Grad-CAM pointing game
   of the TRUE class on those phantoms, scored as ``train.screening_eval.phantom_test`` scores it.
3. Per member the stage with the best validation score (ties: the later stage; a member with no
   scorable case keeps -1) goes into the card's ``explain`` section with every stage's validation
   figures and the seed; ``core.face.screening_cam.classification_cam`` reads it from there.
4. The card's TEST phantoms (its seeds, identities and number of faces) are scored again with the
   chosen stages: ``metrics.phantom_test`` and ``metrics.phantom_test_held_out_identity`` get the
   new ``pointing_game``; the previous one is kept as ``pointing_game_last_stage``. Their other
   figures are left as they were.
"""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from core.face.screening import Screener, cam_stages
from core.tasks import get_task
from core.weights import WEIGHTS_FILE, ModelCard, read_card, sha256_bytes, write_card
from train import classifier, screening_eval
from train.classifier import ClassifierConfig
from train.config import RunConfig
from train.face_identities import identity_split

log = logging.getLogger("train.cam_select")
VAL_SEED = 7001
TEST_RECORDS = {"phantom_test": "train", "phantom_test_held_out_identity": "held_out"}
LAST_STAGE_KEY = "pointing_game_last_stage"


@dataclass(frozen=True, kw_only=True)
class CamSelectConfig(RunConfig):
    """What a ``train.cam_select`` run is given (the options' help says what each field means)."""

    weights: Path
    task: str | None = None
    n: int = 120
    val_seed: int = VAL_SEED
    val_identity: str = "train"
    val_identity_variation: float = 0.7
    stages: list[int] = field(default_factory=lambda: [-1, -2, -3])
    test_n: int | None = None
    no_test: bool = False
    threads: int = 1


def parse_args(argv: list[str] | None = None) -> CamSelectConfig:
    """The configuration from a command line (``sys.argv[1:]`` when ``argv`` is None)."""
    p = argparse.ArgumentParser(prog="python -m train.cam_select", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, required=True, help="face screening weights folder")
    p.add_argument("--task", choices=list(get_task("face_screening").rows),
                   help="screening task of the phantoms (default: the card's training.screen_task)")
    p.add_argument("--n", type=int, default=120, help="validation phantoms (balanced over the classes)")
    p.add_argument("--val-seed", type=int, default=VAL_SEED,
                   help="seed of the validation phantoms; must differ from the training and test seeds")
    p.add_argument("--val-identity", choices=("train", "held_out"), default="train",
                   help="portrait of the validation phantoms (default train: the held-out identity "
                        "stays unseen until the test)")
    p.add_argument("--val-identity-variation", type=float, default=0.7,
                   help="landmark-driven face-shape variation of the validation phantoms (default 0.7, "
                        "train/phantoms/face.py): stages are chosen on faces that are NOT quite the training "
                        "face, so the choice carries over to unseen faces better (0: the portrait as it is)")
    p.add_argument("--stages", type=int, nargs="+", default=[-1, -2, -3],
                   help="candidate stages, counted from the deepest (-1)")
    p.add_argument("--test-n", type=int,
                   help="test phantoms to re-score (default: each test record's own n)")
    p.add_argument("--no-test", action="store_true", help="choose and record the stages only")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch's default)")
    tokens = sys.argv[1:] if argv is None else list(argv)
    return CamSelectConfig.from_args(p.parse_args(tokens), tokens)


def training_args(card: ModelCard) -> ClassifierConfig:
    """The arguments of the ``train.classifier`` command recorded in the card (its seeds)."""
    tokens = shlex.split(card.training.get("command", ""))
    if "train.classifier" not in tokens:
        raise SystemExit("the card records no train.classifier command; cannot tell which phantom "
                         "seeds trained and tested it")
    return classifier.parse_args(tokens[tokens.index("train.classifier") + 1:])


def select_stages(scores: Mapping[str, Mapping[int, float | None]]) -> dict[str, int]:
    """Per member the stage with the highest score; ties go to the later stage (-1 beats -2), and a
    member with no score at all (nothing to score) keeps -1, the deepest stage."""
    chosen = {}
    for member, by_stage in scores.items():
        valid = [(float(s), int(k)) for k, s in by_stage.items() if s is not None]
        chosen[member] = max(valid)[1] if valid else -1
    return chosen


def cam_grid(screener: Screener, member: str, stage: int) -> list[int]:
    """[h, w] of the map a member's stage gives on the member's input size."""
    spec = screener.card.input
    side = spec["size"] if member == "whole_face" else [int(spec.get("crop_size", 96))] * 2
    net = screener.model.member(member)
    shapes = []
    handle = net.cam_layer(stage).register_forward_hook(lambda _m, _i, out: shapes.append(out.shape))
    try:
        with torch.inference_mode():
            net(torch.zeros(1, 3, *side))
    finally:
        handle.remove()
    return [int(shapes[0][-2]), int(shapes[0][-1])]


def validation_scores(screener: Screener, faces: list[Any], stages: Sequence[int]) -> dict[str, dict]:
    """member -> stage -> the pointing game (against the evidence regions) on ``faces``, plus the
    stage's map size under ``grid``; stages a member lacks are left out."""
    results = screening_eval.predict_phantoms(screener, faces, desc="validation phantoms")
    cases = screening_eval.pointing_cases(screener, faces, results)
    out: dict[str, dict] = {m: {} for m in screener.members}
    for stage in tqdm(stages, desc="CAM stages"):
        have = {m: stage for m in screener.members if -screener.model.member(m).cam_stages <= stage}
        for member, (regions, _) in screening_eval.pointing_scores(screener, results, cases, have,
                                                               desc=f"stage {stage}").items():
            out[member][stage] = {**regions, "grid": cam_grid(screener, member, stage)}
    return out


def retest(screener: Screener, card: ModelCard, train_args: ClassifierConfig, task: str,
           stages: Mapping[str, int], test_n: int | None) -> dict[str, Any]:
    """The card's metrics with each phantom test's pointing game re-scored at ``stages``."""
    found = dict(card.metrics)
    split = identity_split(train_args.identities, train_args.held_out_persons, train_args.identity_seed) \
        if train_args.identities else None  # the held-out test shows the run's held-out people
    for name, identity in TEST_RECORDS.items():
        report = found.get(name)
        if not isinstance(report, dict) or "pointing_game" not in report:
            log.warning("the card has no %s to re-score", name)
            continue
        n = int(test_n or report.get("n", train_args.test_phantoms))
        sources = split.held_out if split and identity == "held_out" and split.held_out else None
        faces = classifier.phantom_faces(task, n, train_args.test_seed, "train" if sources else identity,
                                         sources=sources)
        results = screening_eval.predict_phantoms(screener, faces, desc=name)
        game = {**screening_eval.pointing_game_section(screener, faces, results, stages),
                "n_faces": n, "seed": train_args.test_seed}
        last = report.get(LAST_STAGE_KEY, report["pointing_game"])  # a re-run keeps the original
        updated = {}
        for key, value in report.items():  # the old figures right after the new ones
            if key == "pointing_game":
                updated.update({key: game, LAST_STAGE_KEY: last})
            elif key != LAST_STAGE_KEY:
                updated[key] = value
        found[name] = updated
        before, after = updated[LAST_STAGE_KEY]["whole_face"], updated["pointing_game"]["whole_face"]
        log.info("%s: whole-face pointing game %s -> %s", name, before["score"], after["score"])
    return found


def _check_args(args: CamSelectConfig, card: ModelCard, train_args: ClassifierConfig) -> str:
    """The task, after checking the arguments against the card."""
    task = args.task or card.training.get("screen_task") or train_args.screen_task
    if task != train_args.screen_task:
        raise SystemExit(f"--task {task}, but the card was trained for {train_args.screen_task}")
    used = {"training": train_args.phantom_seed, "test": train_args.test_seed}
    clash = [k for k, s in used.items() if s == args.val_seed]
    if clash:
        raise SystemExit(f"--val-seed {args.val_seed} is the card's {clash[0]} seed; pick another")
    if args.n < 1 or any(s >= 0 for s in args.stages):
        raise SystemExit("--n must be positive and --stages negative (-1 the deepest)")
    return task


def run(args: CamSelectConfig) -> ModelCard:
    """Score the stages, record the choice and re-score the tests; returns the card written."""
    if args.threads:
        torch.set_num_threads(args.threads)
    folder = args.weights
    card = read_card(folder)
    train_args = training_args(card)
    task = _check_args(args, card, train_args)
    weights = folder / card.weights.get("file", WEIGHTS_FILE)
    sha = sha256_bytes(weights.read_bytes())
    screener = Screener.from_folder(folder)  # refuses a file whose sha256 differs from the card
    faces = classifier.phantom_faces(task, args.n, args.val_seed, args.val_identity,
                                     args.val_identity_variation)
    scores = validation_scores(screener, faces, sorted(set(args.stages), reverse=True))
    chosen = select_stages({m: {k: v["score"] for k, v in by.items()} for m, by in scores.items()})
    for member, by in scores.items():
        log.info("%s: %s -> stage %d", member,
                 ", ".join(f"{k}: {v['score'] if v['score'] is None else round(v['score'], 3)}"
                           for k, v in by.items()), chosen[member])
    explain = {
        "cam_stage": chosen,
        "cam_grid": {m: cam_grid(screener, m, s) for m, s in chosen.items()},
        "selection": {
            "rule": "per member the stage with the best Grad-CAM pointing game (TRUE class, evidence "
                    "regions) on validation phantoms; ties to the later stage; no scorable case: -1",
            "task": task, "seed": args.val_seed, "identity": args.val_identity, "n": args.n,
            "identity_variation": args.val_identity_variation,
            "seeds_avoided": {"training": train_args.phantom_seed, "test": train_args.test_seed},
            "scores": {m: {str(k): v for k, v in by.items()} for m, by in scores.items()},
            "command": args.command("train.cam_select"),
            "date": dt.date.today().isoformat()}}
    card = replace(card, explain=explain)
    cam_stages(card, screener.members)  # the section as written must read back
    if not args.no_test:
        screener = Screener(screener.model, card)
        card = replace(card, metrics=retest(screener, card, train_args, task, chosen, args.test_n))
    write_card(folder, card)
    if sha256_bytes(weights.read_bytes()) != sha:
        raise RuntimeError(f"{weights} changed while choosing CAM stages")
    log.info("wrote %s: CAM stages %s", folder / "model.json", chosen)
    return card


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
