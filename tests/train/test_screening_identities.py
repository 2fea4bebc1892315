"""Screening on real identities: phantoms drawn on several people split by person, the out-of-range
thresholds chosen on the held-out people, and ``train.evaluate --task face_screening`` on an ImageFolder."""
from __future__ import annotations

import csv
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.face.abstain import OUT_OF_RANGE
from core.weights import read_card, write_card
from train.classifier import main as classifier_main
from train.evaluate import main as evaluate_main
from train.face_identities import identity_split, person
from train.phantoms.face import phantom_set

ROOT = Path(__file__).resolve().parents[2]
FACES = ROOT / "data_samples" / "face"
TINY = ["--epochs", "1", "--widths", "4", "8", "--region-widths", "4", "8", "--face-size", "64",
        "--crop-size", "32", "--batch-size", "8", "--threads", "1", "--folds", "0"]


@pytest.fixture(scope="module")
def people(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("people")
    shutil.copy(FACES / "grace_hopper.jpg", folder / "personne01146+0+0.jpg")
    shutil.copy(FACES / "grace_hopper.jpg", folder / "personne01246+0+0.jpg")  # the same person again
    shutil.copy(FACES / "skimage_astronaut.jpg", folder / "astronaut.jpg")
    Image.fromarray(np.full((80, 80, 3), 128, np.uint8)).save(folder / "blank.png")  # no face: skipped
    return folder


def test_persons_are_kept_together(people: Path) -> None:
    assert person(people / "personne01146+0+0.jpg") == person(people / "personne01246+0+0.jpg")
    assert person(Path("fasseg/frontal02/train/RGB/13.png")) == "frontal02_13"
    split = identity_split([people], held_out_persons=1, seed=0)
    assert len(split.held_out_persons) == 1 and split.train_persons == 2  # blank.png is a person too
    names = {s.name for s in split.train} | {s.name for s in split.held_out}
    assert "blank.png" not in names and len(split.train) + len(split.held_out) == 3
    both = [s.name.startswith("personne01") for s in split.held_out]
    assert all(both) or not any(both)


def test_phantoms_cycle_through_the_people(people: Path) -> None:
    split = identity_split([people], held_out_persons=0)
    faces = phantom_set("skin", 8, seed=1, sources=split.train)
    assert [f.identity for f in faces[:4]] == [split.train[0].name] * 4  # every class on person 1 ...
    assert faces[4].identity == split.train[1].name  # ... then the next


def test_run_with_identities_chooses_an_out_of_range_rule_and_the_cli_applies_it(
        people: Path, tmp_path: Path) -> None:
    out = tmp_path / "skin"
    assert classifier_main(["--phantoms", "16", "--screen-task", "skin", "--identities", str(people),
                            "--held-out-persons", "1", "--identity-seed", "3", "--test-phantoms", "8",
                            "--gallery-out", "--out", str(out), *TINY]) == 0
    card = read_card(out)
    ids = card.training["identities"]
    assert ids["train_photos"] + ids["held_out_photos"] == 3 and len(ids["held_out_persons"]) == 1
    assert "real photos" in card.training["data"]
    assert "no-condition class is their real faces" in card.training["data"]
    rule = card.postprocess["abstain"]
    assert 0 <= rule["min_top_prob"] <= 0.95 and rule["max_gallery_distance"] >= 0
    assert "held-out" in rule["chosen_on"] and len(rule["gallery_sha256"]) == 64
    val = card.metrics["abstain_validation"]
    assert val["real_no_condition"]["with_rule"]["no_condition_or_out_of_range_share"] >= 0.95
    assert val["phantom_held_out"]["with_rule"]["n"] == 8
    assert "held-out real persons" in card.metrics["phantom_test_held_out_identity"]["identity"]

    data = tmp_path / "photos"
    for cls, src in (("healthy", "skimage_astronaut.jpg"), ("acne", "grace_hopper.jpg")):
        (data / cls).mkdir(parents=True)
        shutil.copy(FACES / src, data / cls / src)
    (data / "acne" / "broken.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.full((90, 90, 3), 200, np.uint8)).save(data / "healthy" / "wall.png")
    # The abstain path: a rule no answer passes.
    write_card(out, replace(card, postprocess={**card.postprocess,
                                               "abstain": {**rule, "min_top_prob": 0.999}}))
    ev = tmp_path / "eval"
    assert evaluate_main(["--task", "face_screening", "--weights", str(out), "--data", str(data),
                          "--out", str(ev)]) == 0
    rows = {r["name"]: r for r in csv.DictReader((ev / "per_case.csv").open())}
    assert set(rows) == {"healthy/skimage_astronaut.jpg", "healthy/wall.png", "acne/grace_hopper.jpg",
                         "acne/broken.jpg"}
    assert all(r["pred"] == OUT_OF_RANGE for r in rows.values())
    assert "no usable face" in rows["healthy/wall.png"]["reason"]
    assert "no usable face" in rows["acne/broken.jpg"]["reason"]
    assert "no class is confident" in rows["acne/grace_hopper.jpg"]["reason"]
    assert rows["acne/grace_hopper.jpg"]["true"] == "acne" and rows["acne/grace_hopper.jpg"]["top_label"]
    confusion = list(csv.DictReader((ev / "confusion.csv").open()))
    assert [c["true"] for c in confusion] == ["acne", "healthy"] and confusion[1][OUT_OF_RANGE] == "2"
    summary = json.loads((ev / "summary.json").read_text())
    assert summary["no_finding"] == "healthy" and summary["no_condition_or_out_of_range_share"] == 1.0
    assert summary["report_known_classes"]["n_cases"] == 2  # the two photos with a face
    # Without the rule every face with a face found gets a class.
    write_card(out, replace(card, postprocess={k: v for k, v in card.postprocess.items() if k != "abstain"}))
    assert evaluate_main(["--task", "face_screening", "--weights", str(out), "--data", str(data),
                          "--out", str(ev)]) == 0
    rows = {r["name"]: r for r in csv.DictReader((ev / "per_case.csv").open())}
    assert rows["acne/grace_hopper.jpg"]["pred"] in card.labels
