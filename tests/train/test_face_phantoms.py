"""train.phantoms.face: synthetic skin conditions, syndrome-like warps and the autism demo marker."""
from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from core.face.landmarks import FaceLandmarks, detect_landmarks
from core.face.regions import REGION_NAMES, region_masks
from core.tasks import get_task
from train.face_augment import MILD, FaceSource, photo_sample
from train.phantoms.face import (
    PhantomFace,
    face_source,
    main,
    make_phantom,
    phantom_set,
)

SCREENING = get_task("face_screening")
NO_FINDING = {"skin": "healthy", "syndrome": "unaffected", "autism": "td_label"}
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def source() -> FaceSource:
    return face_source("train")


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, 0])


def _phantom(task: str, label: str, source: FaceSource, seed: int) -> PhantomFace:
    return make_phantom(task, label, source, _rng(seed))


def _masks(ph: PhantomFace) -> dict[str, np.ndarray]:
    return region_masks(ph.landmarks)


def _ratio(ph: PhantomFace, *pairs: tuple[int, int]) -> float:
    """Mean distance of the landmark pairs over the interpupillary distance (iris centres)."""
    xy = ph.landmarks.xy.astype(np.float64)
    dist = [np.hypot(*(xy[i] - xy[j])) for i, j in pairs]
    return float(np.mean(dist) / np.hypot(*(xy[473] - xy[468])))


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


# ---------------------------------------------------------------- tables
def test_tables_cover_every_class_with_known_regions():
    assert tuple(SCREENING.rows) == SCREENING.models == ("skin", "syndrome", "autism")
    for task, row in SCREENING.rows.items():
        assert tuple(row.evidence_regions) == row.labels
        for label, regions in SCREENING.rows[task].evidence_regions.items():
            assert set(regions) <= set(REGION_NAMES), (task, label)
            assert (regions == ()) == (label == NO_FINDING[task]), (task, label)
    assert "no relation to autism" in SCREENING.rows["autism"].phantom_note
    assert "says nothing about faces and autism" in SCREENING.rows["autism"].phantom_note


def test_unknown_names_are_refused(source):
    with pytest.raises(ValueError, match="skin"):
        phantom_set("acne", 2, 0)
    with pytest.raises(ValueError, match="healthy"):
        make_phantom("skin", "melanoma", source, _rng(0))
    with pytest.raises(ValueError, match="held_out"):
        face_source("test")


# ---------------------------------------------------------------- sets
def test_sets_are_balanced_reproducible_and_seeded(source):
    phantoms = phantom_set("skin", 6, seed=4)
    assert [p.label for p in phantoms] == ["acne", "eczema", "rosacea", "healthy", "acne", "eczema"]
    for p in phantoms:
        assert p.rgb.shape == (*source.shape, 3) and p.rgb.dtype == np.uint8
        assert p.evidence.shape == source.shape and p.evidence.dtype == bool
        assert p.landmarks.image_shape == source.shape
        assert SCREENING.rows["skin"].labels[p.label_index] == p.label
        assert p.identity == source.name
    again = phantom_set("skin", 6, seed=4)
    for a, b in zip(phantoms, again):
        np.testing.assert_array_equal(a.rgb, b.rgb)
        np.testing.assert_array_equal(a.evidence, b.evidence)
        np.testing.assert_array_equal(a.landmarks.points, b.landmarks.points)
    other = phantom_set("skin", 1, seed=5)[0]
    assert not np.array_equal(other.rgb, phantoms[0].rgb)


def test_no_finding_classes_are_the_plain_augmentation(source):
    for task, label in NO_FINDING.items():
        ph = _phantom(task, label, source, 3)
        assert not ph.evidence.any(), task
        if task != "syndrome":  # syndrome phantoms all carry natural shape variation
            rgb, lm = photo_sample(source, MILD, _rng(3))
            np.testing.assert_array_equal(ph.rgb, rgb)
            np.testing.assert_allclose(ph.landmarks.points, lm.points)


# ---------------------------------------------------------------- skin
@pytest.mark.parametrize("label", ["acne", "eczema", "rosacea"])
def test_skin_evidence_is_on_skin_and_is_what_changed(source, label):
    for seed in SEEDS[:2]:
        ph, plain = _phantom("skin", label, source, seed), _phantom("skin", "healthy", source, seed)
        np.testing.assert_array_equal(ph.landmarks.points, plain.landmarks.points)
        masks = _masks(ph)
        assert ph.evidence.sum() > 30, (label, seed)
        allowed = np.logical_or.reduce([masks[r] for r in SCREENING.rows["skin"].evidence_regions[label]])
        assert not (ph.evidence & ~allowed).any(), (label, seed)
        for never in ("right_eye", "left_eye", "right_brow", "left_brow", "lips"):
            assert not (ph.evidence & masks[never]).any(), (label, seed, never)
        diff = np.abs(ph.rgb.astype(np.int16) - plain.rgb).max(axis=2)
        assert diff[ph.evidence].mean() > 8, (label, seed)            # visible where it is drawn
        assert diff[~_grow(ph.evidence, 8)].mean() < 0.2, (label, seed)  # nothing elsewhere


def test_rosacea_is_centrofacial_and_acne_is_scattered(source):
    for seed in SEEDS[:2]:
        rosacea, acne = _phantom("skin", "rosacea", source, seed), _phantom("skin", "acne", source, seed)
        m = _masks(rosacea)
        central = m["right_cheek"] | m["left_cheek"] | m["nose"]
        assert (rosacea.evidence & m["nose"]).any() and (rosacea.evidence & m["right_cheek"]).any()
        assert (rosacea.evidence & m["left_cheek"]).any() and not (rosacea.evidence & ~central).any()
        n_spots, _ = cv2.connectedComponents(acne.evidence.astype(np.uint8))
        assert n_spots - 1 >= 4  # several separate papules and pustules


# ---------------------------------------------------------------- syndrome-like shapes
@pytest.fixture(scope="module")
def shapes(source) -> dict[int, dict[str, PhantomFace]]:
    labels = SCREENING.rows["syndrome"].labels
    return {seed: {label: _phantom("syndrome", label, source, seed) for label in labels}
            for seed in SEEDS}


def test_wide_set_eyes_widen_the_intercanthal_distance(shapes):
    for seed, ph in shapes.items():
        icd, ref = _ratio(ph["wide_set_eyes"], (133, 362)), _ratio(ph["unaffected"], (133, 362))
        assert icd > ref + 0.05, seed
        assert abs(_ratio(ph["short_fissures_smooth_philtrum"], (133, 362)) - ref) < 0.04, seed


def test_short_fissures_and_thin_upper_lip(shapes):
    for seed, ph in shapes.items():
        fissure = _ratio(ph["short_fissures_smooth_philtrum"], (33, 133), (362, 263))
        assert fissure < 0.88 * _ratio(ph["unaffected"], (33, 133), (362, 263)), seed
        lip = _ratio(ph["short_fissures_smooth_philtrum"], (0, 13))
        assert lip < 0.8 * _ratio(ph["unaffected"], (0, 13)), seed


def test_small_jaw_shortens_the_lower_face(shapes):
    for seed, ph in shapes.items():
        assert _ratio(ph["small_jaw"], (152, 2)) < 0.9 * _ratio(ph["unaffected"], (152, 2)), seed
        eyes = _ratio(ph["small_jaw"], (133, 362)), _ratio(ph["unaffected"], (133, 362))
        assert abs(eyes[0] - eyes[1]) < 0.01, seed  # the upper face is left alone


def test_shape_evidence_is_the_changed_region(shapes):
    for seed, ph in shapes.items():
        wide, short, jaw = ph["wide_set_eyes"], ph["short_fissures_smooth_philtrum"], ph["small_jaw"]
        for p in (wide, short):
            m = _masks(p)
            assert (p.evidence[m["right_eye"]]).all() and (p.evidence[m["left_eye"]]).all(), seed
        assert short.evidence[_masks(short)["lips"]].mean() > 0.95, seed
        m = _masks(jaw)
        assert jaw.evidence.any() and not (jaw.evidence & ~m["face_oval"]).any(), seed
        assert not (jaw.evidence & (m["right_eye"] | m["left_eye"] | m["nose"])).any(), seed
        chin = np.round(jaw.landmarks.xy[[152, 17]].mean(axis=0)).astype(int)
        assert jaw.evidence[chin[1], chin[0]] and jaw.evidence[m["lips"]].mean() < 0.7, seed


def test_landmarks_move_with_the_image(shapes):
    """Face Mesh run on the warped phantom finds the eyes where the returned landmarks put them."""
    ph = shapes[0]["wide_set_eyes"]
    found = detect_landmarks(ph.rgb)
    eyes = [33, 133, 362, 263, 468, 473]
    err = np.hypot(*(found.xy[eyes] - ph.landmarks.xy[eyes]).T)
    ipd = np.hypot(*(ph.landmarks.xy[473] - ph.landmarks.xy[468]))
    assert np.median(err) < 0.06 * ipd
    as_found = PhantomFace(ph.rgb, FaceLandmarks(found.points, found.image_shape), ph.label, 0,
                           ph.evidence, ph.identity)
    assert _ratio(as_found, (133, 362)) > _ratio(shapes[0]["unaffected"], (133, 362)) + 0.03


# ---------------------------------------------------------------- autism demo marker
def test_autism_marker_lies_only_in_the_forehead(source):
    for seed in SEEDS:
        asd, td = _phantom("autism", "asd_label", source, seed), _phantom("autism", "td_label", source, seed)
        forehead = _masks(asd)["forehead"]
        assert asd.evidence.sum() > 50 and not (asd.evidence & ~forehead).any(), seed
        changed = np.abs(asd.rgb.astype(np.int16) - td.rgb).max(axis=2) > 12
        assert changed.any() and not (changed & ~_grow(forehead, 8)).any(), seed


# ---------------------------------------------------------------- identities and the command line
def test_held_out_identity_is_the_astronaut():
    pytest.importorskip("skimage")
    phantoms = phantom_set("syndrome", 4, seed=0, identity="held_out")
    assert {p.identity for p in phantoms} == {face_source("held_out").name}
    assert phantoms[0].rgb.shape == (512, 512, 3)
    assert phantoms[0].evidence.any() and not phantoms[3].evidence.any()


def test_cli_writes_image_folder_evidence_and_manifest(tmp_path):
    assert main(["--task", "autism", "--n", "3", "--seed", "2", "--out", str(tmp_path), "--no-progress"]) == 0
    with (tmp_path / "manifest.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows] == ["asd_label", "td_label", "asd_label"]
    assert set(rows[0]) == {"path", "label", "identity", "evidence_path"}
    phantoms = phantom_set("autism", 3, seed=2)
    for row, ph in zip(rows, phantoms):
        assert row["path"].startswith(f"{row['label']}/autism_") and row["identity"] == ph.identity
        assert row["evidence_path"] == f"evidence/{row['path']}"
        rgb = cv2.cvtColor(cv2.imread(str(tmp_path / row["path"])), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(rgb, ph.rgb)
        mask = cv2.imread(str(tmp_path / row["evidence_path"]), cv2.IMREAD_GRAYSCALE)
        assert set(np.unique(mask)) <= {0, 255}
        np.testing.assert_array_equal(mask > 0, ph.evidence)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["asd_label", "evidence", "manifest.csv", "td_label"]


def test_identity_variation_changes_the_face_not_the_pose_or_the_class() -> None:
    from train.phantoms.face import phantom_set

    plain = phantom_set("skin", 4, seed=21)
    varied = phantom_set("skin", 4, seed=21, identity_variation=1.0)
    for a, b in zip(plain, varied):
        assert a.label == b.label and np.array_equal(a.landmarks.points, b.landmarks.points)
        oval = b.evidence | (np.abs(a.rgb.astype(int) - b.rgb.astype(int)).sum(axis=2) > 0)
        assert oval.any()  # something changed ...
    healthy = next(i for i, f in enumerate(plain) if f.label == "healthy")
    assert not varied[healthy].evidence.any()  # ... but a varied healthy face carries no evidence
    assert phantom_set("skin", 2, seed=21, identity_variation=0.0)[0].rgb.tobytes() == plain[0].rgb.tobytes()
