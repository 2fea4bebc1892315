"""train.face_regions: augmented samples keep their labels on the face; a tiny run writes a card."""
from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.face.landmarks import FaceLandmarks
from core.face.region_net import RegionSegmenter
from core.face.regions import LABEL_NAMES, REGION_NAMES, region_label_mask
from core.weights import load_model
from train.face_augment import MILD, STRONG, photo_sample, training_sample
from train.face_pixels import paint_brows
from train.face_regions import lr_at, main, region_loss
from train.face_shape import INNER_LOWER, INNER_UPPER, open_mouth, shape_warp
from train.face_sources import load_sources

pytest.importorskip("skimage", reason="the held-out face is scikit-image's astronaut: "
                                      "pip install scikit-image==0.26.0")


@pytest.fixture(scope="module")
def sources():
    return load_sources()


def test_training_samples_are_aligned_faces_with_every_region(sources) -> None:
    src, _ = sources
    rng = np.random.default_rng(0)
    for _ in range(4):
        image, labels = training_sample(src, {"size": 96, "eye_distance": 0.28, "eye_y": 0.4}, STRONG, rng)
        assert image.shape == (96, 96, 3) and image.dtype == np.uint8 and labels.shape == (96, 96)
        assert set(np.unique(labels)) == set(range(len(LABEL_NAMES)))
        eyes = [np.argwhere(labels == LABEL_NAMES.index(n)).mean(axis=0) for n in ("right_eye", "left_eye")]
        assert eyes[0][1] < 48 < eyes[1][1]  # subject's right eye on the image's left, after any mirror
        assert abs(eyes[0][0] - 0.4 * 96) < 12  # jittered around the aligned eye height


def test_shape_warp_moves_image_and_landmarks_together(sources) -> None:
    """A pixel-exact marker at each landmark ends up where the warp says the landmark went."""
    src, _ = sources
    pts = src.points
    image = np.zeros((*src.shape, 3), np.uint8)
    idx = [33, 263, 1, 61, 291, 152]
    for x, y in np.round(pts[idx, :2]).astype(int):
        image[y - 1:y + 2, x - 1:x + 2] = 255
    out, moved = shape_warp(image, pts, STRONG.shape, np.random.default_rng(3))
    assert np.abs(moved - pts).max() > 1  # something moved
    for x, y in moved[idx, :2]:
        patch = out[int(y) - 3:int(y) + 4, int(x) - 3:int(x) + 4, 0]
        assert patch.max() > 100, (x, y)


def test_shape_warp_of_strength_zero_is_the_identity_to_the_pixel(sources) -> None:
    src, _ = sources
    ramp = np.zeros((96, 128, 3), np.uint8)
    ramp[..., 0] = np.arange(128)[None]
    ramp[..., 1] = np.arange(96)[:, None]
    out, moved = shape_warp(ramp, src.points * 0.2, 0.0, np.random.default_rng(0))
    assert np.array_equal(out[2:-2, 2:-2], ramp[2:-2, 2:-2]) and np.allclose(moved, src.points * 0.2)
    shift = np.array([[1, 0, 3.0], [0, 1, -2.0], [0, 0, 1]])
    out, moved = shape_warp(ramp, src.points * 0.2, 0.0, np.random.default_rng(0), after=lambda _: shift)
    assert np.array_equal(out[10:-10, 10:-10, 0].astype(int), ramp[10:-10, 10:-10, 0] - 3)
    assert np.array_equal(out[10:-10, 10:-10, 1].astype(int), ramp[10:-10, 10:-10, 1] + 2)
    assert np.allclose(moved[:, :2], src.points[:, :2] * 0.2 + [3, -2])


def test_aligned_samples_keep_the_eye_centres_where_the_predictor_puts_them(sources) -> None:
    src, _ = sources
    still = replace(STRONG, jitter_deg=0.0, jitter_scale=0.0, jitter_shift=0.0, shape_p=1.0)
    align = {"size": 96, "eye_distance": 0.28, "eye_y": 0.4}
    rng = np.random.default_rng(4)
    for _ in range(3):
        _, labels = training_sample(src, align, still, rng)
        for name, x in (("right_eye", 48 - 0.14 * 96), ("left_eye", 48 + 0.14 * 96)):
            cy, cx = np.argwhere(labels == LABEL_NAMES.index(name)).mean(axis=0)
            assert abs(cx - x) < 1.5 and abs(cy - 0.4 * 96) < 1.5


def test_open_mouth_moves_the_lower_lip_and_grows_the_lips_label(sources) -> None:
    src, _ = sources
    rgb, pts = src.photo, src.points
    out, moved = open_mouth(rgb, pts, np.random.default_rng(0))
    assert np.array_equal(moved[list(INNER_UPPER)], pts[list(INNER_UPPER)])
    assert moved[14, 1] > pts[14, 1] + 1 and moved[152, 1] >= pts[152, 1]  # lower lip (and chin) down
    lips = LABEL_NAMES.index("lips")
    before = (region_label_mask(FaceLandmarks(pts, src.shape)) == lips).sum()
    assert (region_label_mask(FaceLandmarks(moved, src.shape)) == lips).sum() > before
    gap = np.abs(out.astype(int) - rgb.astype(int)).sum(axis=2) > 30
    x, y = np.round(moved[list(INNER_LOWER[4:7]), :2].mean(axis=0)).astype(int)
    assert gap[int(pts[13, 1]) + 1:y, x].any()  # the opened gap is painted


def test_bare_variant_paints_out_the_rims_and_brows_go_into_the_brow_polygons(sources) -> None:
    src, held = sources
    assert (False, True) in src.variants and (False, True) not in held.variants  # only she wears glasses
    bare = src.variants[(False, True)][0][0]
    changed = np.abs(bare.astype(int) - src.photo.astype(int)).sum(axis=2) > 40
    labels = region_label_mask(FaceLandmarks(src.points, src.shape))
    brows = np.isin(labels, [LABEL_NAMES.index("right_brow"), LABEL_NAMES.index("left_brow")])
    brow_rows = np.nonzero(brows)[0]
    assert changed[brow_rows.min() - 15:brow_rows.max() + 15].sum() > 200  # the dark upper rim is gone
    assert not changed[labels == LABEL_NAMES.index("lips")].any()
    painted = paint_brows(np.full_like(bare, 230), src.points, np.random.default_rng(0))
    darker = painted.sum(axis=2) < 3 * 225
    assert darker[brows].mean() > 0.8 and darker[~brows].mean() < 0.01


def test_mild_photo_samples_keep_the_photo_grid(sources) -> None:
    _, held = sources
    image, lm = photo_sample(held, MILD, np.random.default_rng(1))
    assert image.shape == (*held.shape, 3) and isinstance(lm, FaceLandmarks)
    assert (region_label_mask(lm) > 0).sum() > 1000


def test_loss_and_schedule() -> None:
    target = torch.randint(0, len(LABEL_NAMES), (2, 8, 8))
    perfect = torch.nn.functional.one_hot(target, len(LABEL_NAMES)).permute(0, 3, 1, 2).float() * 30
    assert region_loss(perfect, target) < 0.05 < region_loss(torch.zeros_like(perfect), target)
    assert lr_at(0.0, 1.0) == pytest.approx(0.1) and lr_at(0.05, 1.0) == pytest.approx(1.0)
    assert lr_at(1.0, 1.0) == pytest.approx(0.02) and lr_at(2.0, 1.0) == pytest.approx(0.02)


def test_tiny_training_run_writes_a_loadable_card(tmp_path: Path, sources) -> None:
    out = tmp_path / "unet"
    argv = ["--out", str(out), "--epochs", "1", "--samples-per-epoch", "16", "--batch-size", "8",
            "--input-size", "64", "--widths", "4", "8", "16", "--val-samples", "3", "--threads", "1"]
    assert main(argv) == 0
    model, card = load_model(out)
    assert card.task == "face_regions" and card.arch == "unet" and card.labels == list(LABEL_NAMES)
    assert card.input["size"] == [64, 64] and card.input["resize"] == "align_face"
    assert card.synthetic and "ONE public-domain portrait" in card.training["data"]
    assert "not manual annotations" in card.training["data"]
    assert card.training["command"].startswith("python -m train.face_regions --out")
    held = card.metrics["held_out"]
    assert set(held["iou"]) == set(REGION_NAMES) and held["n"] == 3 and "astronaut" in held["photo"]
    assert 0 <= held["mean_iou"] <= 1 and "NOT used" in held["identity"]
    assert card.metrics["training_identity"]["photo"] == "grace_hopper.jpg"
    assert card.metrics["seed_system_claim"]["iou"] == 0.89
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert len(rows) == 1 and "held_out_miou" in rows[0] and "held_out_right_eye" in rows[0]
    assert json.loads((out / "model.json").read_text())["weights"]["dtype"] == "float16"
    seg = RegionSegmenter(model, card)
    image, lm = photo_sample(sources[1], MILD, np.random.default_rng(0))
    labels = seg.predict(image, lm).labels
    assert labels.shape == image.shape[:2] and labels.max() < len(LABEL_NAMES)


def test_segmentation_cli_hands_face_regions_over_with_data_as_photos() -> None:
    from train.segmentation import face_regions_argv

    assert face_regions_argv(["--task", "fetal_head", "--arch", "unet", "--phantoms", "4"]) is None
    assert face_regions_argv(["--task=face_regions", "--arch", "unet", "--data", "faces/", "--epochs", "2"]) \
        == ["--photos", "faces/", "--epochs", "2"]
    with pytest.raises(SystemExit, match="plain U-Net"):
        face_regions_argv(["--task", "face_regions", "--arch", "segnet", "--data", "faces/"])


def test_any_folder_of_face_photos_is_training_data(tmp_path: Path, sources) -> None:
    """train.segmentation --task face_regions --data FOLDER: photos without a face or unreadable
    ones are skipped; the card names the photos, and is not marked synthetic."""
    from PIL import Image

    from train.segmentation import main as seg_main

    folder, held = tmp_path / "faces", tmp_path / "held"
    (folder / "sub").mkdir(parents=True)
    held.mkdir()
    Image.fromarray(sources[0].photo).save(folder / "sub" / "person_a.jpg")
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(folder / "blank.png")  # no face
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("ignored")
    Image.fromarray(sources[1].photo).save(held / "person_b.png")
    out = tmp_path / "unet"
    argv = ["--task", "face_regions", "--arch", "unet", "--data", str(folder), "--held-out", str(held),
            "--out", str(out), "--epochs", "1", "--samples-per-epoch", "8", "--batch-size", "4",
            "--input-size", "64", "--widths", "4", "8", "16", "--val-samples", "2", "--threads", "1"]
    assert seg_main(argv) == 0
    _, card = load_model(out)
    assert card.task == "face_regions" and not card.synthetic
    assert "1 face photo(s)" in card.training["data"] and "person_a.jpg" in card.training["train_identity"]
    assert card.metrics["held_out"]["photo"] == "person_b.png" and card.metrics["held_out"]["photos"] == 1
    assert card.metrics["training_identity"]["photo"] == "sub/person_a.jpg"


def test_a_folder_without_any_face_is_refused(tmp_path: Path) -> None:
    from PIL import Image

    from train.face_sources import sources_from

    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "dark.png")
    with pytest.raises(SystemExit, match="no face found"):
        sources_from([tmp_path])
    with pytest.raises(SystemExit, match="no such photo"):
        sources_from([tmp_path / "missing"])
