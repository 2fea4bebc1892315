"""AppTest of the nerve page on the bundled Kaggle-layout samples and the committed weights."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.datasets import read_kaggle_nerve
from core.rle import rle_decode

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "pages" / "nerve.py")
SAMPLES = ROOT / "data_samples" / "nerve"
MODELS = ["U-Net", "U-Net MobileNetV2", "U-Net VGG", "Plain CNN"]
NERVE_FRAME = "1_2.tif"  # a bundled training frame whose label holds a nerve


def _table(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.fixture(scope="module")
def nerve() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.selectbox(key="nerve_sample").set_value(NERVE_FRAME).run()
    return at


def test_all_four_models_beside_the_ground_truth(nerve: AppTest) -> None:
    assert not nerve.exception and not nerve.error
    assert any("not a diagnosis" in c.value for c in nerve.caption)
    # Every model card says what trained it: real Kaggle frames (none is phantom-only any longer).
    assert sum("trained on Real ultrasound frames: Kaggle 2016" in c.value for c in nerve.caption) >= 3
    assert any("bundled frames are synthetic phantoms" in i.value for i in nerve.info)
    frame = _table(nerve, "Presence probability")
    assert list(frame.index) == MODELS
    assert frame["Presence probability"].between(0, 1).all()
    # Every model is in the table; the best of them finds this nerve.
    assert frame["Dice (empty rule)"].max() > 0.6
    agreement = _table(nerve, "U-Net VGG")
    assert np.allclose(np.diag(agreement.to_numpy(float)), 1.0)


def test_comparison_table_is_read_from_the_cards(nerve: AppTest) -> None:
    table = _table(nerve, "Mean Dice (empty rule)")
    assert list(table.index) == MODELS
    assert (table["Mean Dice (empty rule)"] > table["All-empty baseline"]).all()
    # The targets for the default model, on the held-out real subjects (empty frames: proxies).
    assert table.loc["U-Net", "Mean Dice (empty rule)"] >= 0.70
    assert table.loc["U-Net", "Dice, frames with a nerve"] >= 0.60
    assert table["95% CI (subjects)"].str.match(r"^0\.\d\d-0\.\d\d$").all()
    assert table["p50 latency (ms)"].notna().all() and (table["Parameters (M)"] > 0).all()
    assert any("proxies" in c.value and "held out of training" in c.value for c in nerve.caption)
    # The same real frames with the kind of proxy empty frame no model trained on, from the cards too.
    unseen = table["Left empty (zoomed proxies, unseen)"]
    assert unseen.between(0, 1).all() and table["Presence ECE (zoomed proxies, unseen)"].notna().all()
    from core.weights import read_card

    card = read_card(ROOT / "weights" / "nerve" / "unet")
    assert unseen["U-Net"] == pytest.approx(card.metrics["validation_real_zoomed"]["dice_empty_mean"])


def test_rle_shown_decodes_to_the_mask_area(nerve: AppTest) -> None:
    areas = _table(nerve, "Mask area (px)")["Mask area (px)"]
    shape = cv2.imread(str(SAMPLES / "train" / NERVE_FRAME), cv2.IMREAD_GRAYSCALE).shape
    texts = {t.value.split(": ", 1)[0]: t.value.split(": ", 1)[1] for t in nerve.text}
    for model in MODELS:
        rle = "" if texts[model] == "(empty mask)" else texts[model]
        assert rle_decode(rle, shape).sum() == areas[model]


def test_presence_threshold_slider_can_veto_every_mask() -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.selectbox(key="nerve_sample").set_value(NERVE_FRAME).run()
    at.sidebar.slider(key="nerve_pres").set_value(1.0).run()
    assert not at.exception
    assert (_table(at, "Nerve shown")["Nerve shown"] == "no").all()


def test_one_model_with_gradcam() -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.selectbox(key="nerve_sample").set_value(NERVE_FRAME).run()
    at.sidebar.multiselect(key="nerve_models").set_value(["unet"]).run()
    at.sidebar.toggle(key="nerve_cam").set_value(True).run()
    assert not at.exception
    assert list(_table(at, "Presence probability").index) == ["U-Net"]
    assert any("Grad-CAM" in h.value for h in at.subheader)


def test_no_model_selected_is_a_plain_message() -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.multiselect(key="nerve_models").set_value([]).run()
    assert not at.exception and any("Pick at least one model" in i.value for i in at.info)


def test_uploaded_test_frame_without_truth_and_a_corrupt_file() -> None:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.sidebar.radio(key="nerve_source").set_value("Upload").run()
    frame = next(read_kaggle_nerve(SAMPLES, "test")).image
    rgba = cv2.imencode(".png", cv2.cvtColor(frame, cv2.COLOR_GRAY2BGRA))[1].tobytes()
    at.file_uploader(key="nerve_upload").set_value(("1.png", rgba, "image/png")).run()
    assert not at.exception
    assert "Dice (empty rule)" not in _table(at, "Presence probability").columns
    at.file_uploader(key="nerve_upload").set_value(("bad.tif", b"not an image", "image/tiff")).run()
    assert not at.exception and any("Cannot read bad.tif" in e.value for e in at.error)


def test_a_model_whose_weights_fail_their_check_is_unavailable_and_the_others_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import core.roots

    root = tmp_path / "weights" / "nerve"
    root.mkdir(parents=True)
    for model in ("unet", "unet_mobilenet", "unet_vgg"):
        (root / model).symlink_to(ROOT / "weights" / "nerve" / model)
    shutil.copytree(ROOT / "weights" / "nerve" / "cnn", root / "cnn")
    tampered = root / "cnn" / "model.safetensors"
    data = bytearray(tampered.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit pattern in the last tensor byte
    tampered.write_bytes(bytes(data))
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", root.parent)
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    (warning,) = [w.value for w in at.warning if "unavailable" in w.value]
    assert warning.startswith("Plain CNN is unavailable") and "sha256" in warning
    assert list(_table(at, "Presence probability").index) == MODELS[:3]
