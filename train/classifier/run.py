"""The ``train.classifier`` run: data, cross-validation, the final model, its card, gallery and tests."""
from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.face.screening import Screener, to_tensor
from core.models.screening import ScreeningNet
from core.weights import save_model, sha256_bytes, write_card
from train.classifier.abstention import calibrate
from train.classifier.config import GALLERY_FILE, SCREENING, ClassifierConfig, parse_args
from train.classifier.data import FaceSet, load_data, phantom_faces
from train.classifier.fit import cross_validate, fit, time_share
from train.classifier.model import new_model, screening_card
from train.face_identities import IdentitySplit, identity_split
from train.screening_eval import phantom_test

log = logging.getLogger("train.classifier")
GALLERY_MAX_BYTES = 1_000_000


def write_gallery(model: ScreeningNet, data: FaceSet, out: Path, spec: dict) -> Any:
    """The training set's whole-face embeddings as a gallery file; None (and no file) over 1 MB."""
    from core.face.gallery import Gallery

    model.eval()
    with torch.no_grad():
        emb = torch.cat([model.embed(to_tensor(data.faces[s:s + 64], spec)) for s in range(0, len(data), 64)])
    if emb.numel() * 4 > GALLERY_MAX_BYTES:
        log.warning("gallery of %d x %d embeddings is over 1 MB; not written", *emb.shape)
        return None
    gallery = Gallery(emb.numpy(), [data.labels[i] for i in data.y], data.ids)
    path = gallery.save(out / GALLERY_FILE)
    if path.stat().st_size > GALLERY_MAX_BYTES:
        path.unlink()
        log.warning("gallery file over 1 MB; removed")
        return None
    return gallery


def train(args: ClassifierConfig) -> Path:
    """Cross-validate, train the final model on all the data, write the weights folder."""
    if args.threads:
        torch.set_num_threads(args.threads)
    out = args.out or SCREENING.weights_dir(args.screen_task)
    t0 = time.time()
    deadline = t0 + args.time_limit_min * 60 if args.time_limit_min else 0.0
    split = identity_split(args.identities, args.held_out_persons, args.identity_seed) \
        if args.phantoms and args.identities else None
    data, skipped, labels = load_data(args, split.train if split else None)
    counts = np.bincount(data.y, minlength=len(labels))
    log.info("%d faces; per class: %s", len(data), dict(zip(labels, counts.tolist())))
    history: list[dict] = []
    validation = cross_validate(data, args, history, deadline, out)
    model = fit(new_model(args, len(labels), args.seed), data, np.arange(len(data)), args, "final", history,
                time_share(deadline, 1), seed=args.seed, out=out)
    card = screening_card(args, labels, _provenance(args, data, skipped, history, time.time() - t0, split))
    card = save_model(model, card, out)
    gallery = write_gallery(model, data, out, card.input) if args.gallery_out else None
    found = {}
    if validation:
        found["validation"] = validation
    if gallery is not None:
        found["gallery"] = {"file": GALLERY_FILE, "size": len(gallery), "n_classes": len(gallery.classes),
                            "leave_one_out": gallery.leave_one_out_topk((1, 3, 5)),
                            "note": "training-set embeddings of the final model (optimistic)"}
    if args.phantoms and args.test_phantoms:
        screener = Screener.from_folder(out)
        held = split.held_out if split else []
        tests = [("phantom_test", "train", None),
                 ("phantom_test_held_out_identity",
                  f"{len(split.held_out_persons)} held-out real persons, NEVER used for training" if held
                  else "held_out", held or None)]
        for name, identity, sources in tests:
            faces = phantom_faces(args.screen_task, args.test_phantoms, args.test_seed,
                                  "train" if sources else identity, sources=sources)
            found[name] = test = phantom_test(screener, faces, args.screen_task, gallery, identity=identity)
            log.info("%s: accuracy %.3f, whole-face pointing game %s", name, test["accuracy"],
                     test["pointing_game"]["whole_face"]["score"])
        if held:
            no_finding = SCREENING.row(args.screen_task).no_finding
            spec, found["abstain_validation"] = calibrate(screener, gallery, held, faces, no_finding,
                                                          args.abstain_target, len(split.held_out_persons))
            if gallery is not None:  # without --gallery-out the rule has no distance part
                spec["gallery_sha256"] = sha256_bytes((out / GALLERY_FILE).read_bytes())
            card = replace(card, postprocess={**card.postprocess, "abstain": spec})
            log.info("out-of-range rule %s: %s", spec, found["abstain_validation"]["real_no_condition"])
    write_card(out, replace(card, metrics=found))
    log.info("wrote %s (%.1f min)", out, (time.time() - t0) / 60)
    return out


def _provenance(args: ClassifierConfig, data: FaceSet, skipped: int, history: list[dict],
                seconds: float, split: IdentitySplit | None = None) -> dict:
    counts = np.bincount(data.y, minlength=len(data.labels)).tolist()
    if args.phantoms:
        who = (f"drawn on {len(split.train)} real photos of {split.train_persons} persons without any of "
               f"the conditions ({', '.join(map(str, args.identities))}); the no-condition class is their "
               "real faces" if split else "of the TRAINING identity")
        words = (f"{args.phantoms} synthetic phantom faces (train/phantoms/face.py, seed "
                 f"{args.phantom_seed}) {who}; synthetic conditions on real portraits"
                 + (f"; {args.identity_variation:.0%} with the face's skin smoothed and its tone shifted "
                    "first" if args.identity_variation else ""))
        caveat = SCREENING.row(args.screen_task).phantom_note
    else:
        words = (f"{len(data)} face photos from {args.data or args.csv} "
                 f"({skipped} skipped: no face or unreadable)")
        caveat = SCREENING.row(args.screen_task).caveat
    final = [h for h in history if h["run"] == "final"]
    return {
        "synthetic": bool(args.phantoms), "screen_task": args.screen_task, "data": words,
        "caveat": caveat, "class_counts": dict(zip(data.labels, counts)), "skipped_photos": skipped,
        "command": args.command("train.classifier"),
        **({"identities": {"train_photos": len(split.train), "train_persons": split.train_persons,
                           "held_out_photos": len(split.held_out),
                           "held_out_persons": list(split.held_out_persons)}} if split else {}),
        "config": args.to_json(),
        "epochs_run": len(final), "steps": final[-1]["steps"] if final else 0,
        "batch_size": args.batch_size, "lr": args.lr, "weight_decay": args.weight_decay, "seed": args.seed,
        "loss": "class-weighted cross-entropy (inverse class frequency) summed over the members' logits",
        "augmentation": "per photo: mirror (cheek views swapped), brightness +-15%, contrast +-15%, "
                        "saturation +-20%, channel gains +-6%, 1.5-2.5x resolution loss in 25%; per member "
                        "input: rotation +-8 deg, scale +-8%, shift +-5%",
        "selection": "last epoch of the final model trained on all the data",
        "init": f"pretrained tensors from {args.pretrained}" if args.pretrained else "random",
        "minutes": round(seconds / 60, 1), "device": f"cpu x{torch.get_num_threads()} threads",
        "date": dt.date.today().isoformat(), "torch": torch.__version__,
    }


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    train(parse_args(argv))
    return 0
