"""The brain MRI page (AppTest) on the bundled samples with the committed weights, and uploads."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import core.roots

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "dashboard" / "pages" / "brain_mri.py")
SAMPLES = ROOT / "data_samples" / "brain_mri"
TIMEOUT = 180


def _metric(at: AppTest, start: str) -> str:
    return next(m.value for m in at.metric if m.label.startswith(start))


@pytest.fixture()
def page() -> AppTest:
    """The page as it opens, for each test afresh: some tests change its widgets."""
    return AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()


LGG = SAMPLES / "kaggle_3m" / "TCGA_DU_7304_19930325"


def test_the_real_lgg_patient_opens_segmented_and_scored(page: AppTest) -> None:
    assert not page.exception and not page.error
    assert any("not a diagnosis" in c.value for c in page.caption)
    assert _metric(page, "Grid") == "256×256×36"
    assert _metric(page, "True tumour volume") == "45972 voxels"  # no spacing in the files: voxels, not mL
    pred = int(_metric(page, "Predicted tumour volume").split()[0])
    assert 0.5 * 45972 < pred < 1.5 * 45972
    dice = float(_metric(page, "Dice / IoU (volume)").split(" / ")[0])
    assert dice > 0.6  # the 3-sequence model on a patient held out of its training
    assert not page.info or not any("training patients" in i.value for i in page.info)  # a held-out patient
    assert any(c.value.startswith("4-fold cross-validation over 16 patients") for c in page.caption)
    assert _metric(page, "HD95 (volume)").endswith(" voxels")
    text = " ".join(c.value for c in page.caption)
    assert "spacing" in text and "3-sequence U-Net" in text and "LGG kaggle_3m" in text
    assert page.sidebar.radio(key="brain_model_True").value == "unet"
    assert _metric(page, "Validation Dice per patient")  # the card's real validation
    buttons = {b.label for b in page.get("download_button")}
    assert buttons >= {"Predicted mask (NIfTI)", "Per-slice table (CSV)"}
    columns = json.loads(page.dataframe[0].proto.columns)
    formats = {name: c["type_config"]["format"] for name, c in columns.items()}
    assert formats == {"Dice": "%.3f", "IoU": "%.3f", "Predicted area (px)": "%d", "True area (px)": "%d",
                       "HD95 (px)": "%.1f"}  # pixel counts whole, without a unit's decimals


def test_the_flair_model_can_be_chosen_for_the_same_patient(page: AppTest) -> None:
    page.sidebar.radio(key="brain_model_True").set_value("unet_flair").run()
    assert not page.exception and not page.error
    assert any("FLAIR U-Net (one sequence)" in c.value for c in page.caption)
    assert float(_metric(page, "Dice / IoU (volume)").split(" / ")[0]) > 0.4


def test_keeping_only_the_largest_3d_piece_never_adds_tumour(page: AppTest) -> None:
    was_on = page.sidebar.toggle(key="brain_largest").value
    before = int(_metric(page, "Predicted tumour volume").split()[0])
    page.sidebar.toggle(key="brain_largest").set_value(not was_on).run()
    after = int(_metric(page, "Predicted tumour volume").split()[0])
    assert not page.exception and not page.error and after > 0
    on, off = (before, after) if was_on else (after, before)
    assert on <= off


def test_axes_and_the_phantom_samples(page: AppTest) -> None:
    for axis in ("coronal", "sagittal"):
        page.sidebar.radio(key="brain_axis").set_value(axis).run()
        assert not page.exception
    page.sidebar.selectbox(key="brain_sample").select("brain_phantom_02.zip").run()
    assert not page.exception and not page.error
    assert _metric(page, "Grid") == "256×256×20"
    assert _metric(page, "Predicted tumour volume").endswith(" mL")  # a DICOM series has its spacing
    assert not any(r.key == "brain_model_False" for r in page.sidebar.radio)  # one sequence: FLAIR model only
    page.sidebar.selectbox(key="brain_sample").select("s1045_tumour_01").run()
    assert not page.exception
    assert _metric(page, "Predicted tumour area").endswith("cm²")
    assert _metric(page, "HD95 (slice)")


def _upload(files: list[tuple[str, bytes]], label: tuple[str, bytes] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.sidebar.radio(key="brain_source").set_value("Upload").run()
    uploads = [(n, d, "application/octet-stream") for n, d in files]
    at.file_uploader(key="brain_upload").set_value(uploads).run()
    if label:
        at.file_uploader(key="brain_truth").set_value((label[0], label[1], "application/gzip")).run()
    assert not at.exception
    return at


def test_nifti_upload_with_its_label() -> None:
    name = "brain_phantom_01.nii.gz"
    at = _upload([(name, (SAMPLES / "imagesTr" / name).read_bytes())],
                 (name, (SAMPLES / "labelsTr" / name).read_bytes()))
    assert not at.error
    assert _metric(at, "Dice / IoU (volume)")  # scored against the uploaded label
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["Predicted area (mm²)"]["type_config"]["format"] == "%.1f"  # areas in mm² keep a decimal
    plain = _upload([("vol.nii", gzip.decompress((SAMPLES / "imagesTr" / name).read_bytes()))])
    assert _metric(plain, "Predicted tumour volume").endswith("mL") and not plain.error


def test_bad_uploads_get_a_message_not_a_traceback() -> None:
    at = _upload([("scan.nii.gz", b"\x1f\x8b" + b"broken" * 20)])
    assert at.error and "Cannot read" in at.error[0].value
    name = "s1045_tumour_01.nii.gz"
    at = _upload([("vol.nii.gz", (SAMPLES / "imagesTr" / "brain_phantom_01.nii.gz").read_bytes())],
                 (name, (SAMPLES / "labelsTr" / name).read_bytes()))
    assert at.error and "ignored" in at.error[0].value  # a label on another grid


def test_no_weights_says_how_to_train(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.error and "make weights-brain" in at.error[0].value


@pytest.mark.parametrize("kind", ["nifti", "png"])
def test_a_constant_volume_or_blank_slice_gets_a_message(kind: str) -> None:
    import io

    import nibabel as nib
    import numpy as np
    from PIL import Image

    if kind == "nifti":
        img = nib.Nifti1Image(np.full((40, 40, 6), 7, np.int16), np.diag([1.0, 1.0, 3.0, 1.0]))
        name, data = "constant.nii.gz", gzip.compress(img.to_bytes())
    else:
        buf = io.BytesIO()
        Image.fromarray(np.zeros((64, 64), np.uint8)).save(buf, format="PNG")
        name, data = "blank.png", buf.getvalue()
    at = _upload([(name, data)])
    assert any("every voxel has the same value" in w.value for w in at.warning)
    assert at.sidebar.slider(key="brain_level").value is not None  # the window sliders still work


def test_an_intensity_image_uploaded_as_the_label_is_refused() -> None:
    name = "brain_phantom_01.nii.gz"
    image = (SAMPLES / "imagesTr" / name).read_bytes()
    at = _upload([(name, image)], ("label.nii.gz", image))  # the image itself, not its labels
    assert any("an image, not a label volume" in e.value for e in at.error)
    assert not any(m.label.startswith("Dice / IoU") for m in at.metric)  # no score against it


def _tiff(array) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="TIFF", compression="tiff_deflate")
    return buf.getvalue()


def test_an_lgg_tiff_slice_with_its_mask_tif_is_segmented_and_scored() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    image = (rng.random((256, 256, 3)) * 60).astype(np.uint8)
    yy, xx = np.mgrid[0:256, 0:256]
    blob = (yy - 120) ** 2 + (xx - 140) ** 2 < 30**2
    image[..., 1][blob] = 230  # bright on FLAIR, the channel the LGG masks were drawn on
    name = "TCGA_XX_0001_20000101_12.tif"
    mask = _tiff(np.where(blob, 255, 0).astype(np.uint8))
    at = _upload([(name, _tiff(image))], ("TCGA_XX_0001_20000101_12_mask.tif", mask))
    assert not at.error, [e.value for e in at.error]
    assert any(m.label.startswith("Dice / IoU") for m in at.metric)  # scored against the _mask.tif
    text = " ".join(x.value for x in [*at.caption, *at.info, *at.warning, *at.markdown])
    assert "spacing" in text.lower()  # the page says the files carry no spacing
    bad = _upload([(name, _tiff(image))], ("TCGA_XX_0001_20000101_12_mask.tif", _tiff(image[..., 1])))
    assert bad.error and "0 and 255" in bad.error[0].value


def test_a_zipped_lgg_patient_folder_brings_its_masks_and_three_sequences() -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for path in sorted(LGG.iterdir()):
            zf.write(path, f"kaggle_3m/{LGG.name}/{path.name}")
    at = _upload([("patient.zip", buf.getvalue())])
    assert not at.error, [e.value for e in at.error]
    assert _metric(at, "Grid") == "256×256×36" and _metric(at, "True tumour volume") == "45972 voxels"
    assert at.sidebar.radio(key="brain_model_True").value == "unet"
    assert not any(u.key == "brain_truth" for u in at.get("file_uploader"))  # its own masks are the truth


def test_several_lgg_slice_files_in_any_order_make_one_volume() -> None:
    numbers = (21, 9, 20)
    files = [(f"{LGG.name}_{n}.tif", (LGG / f"{LGG.name}_{n}.tif").read_bytes()) for n in numbers]
    at = _upload(files)
    assert not at.error, [e.value for e in at.error]
    assert _metric(at, "Grid") == "256×256×3" and not any(m.label.startswith("Dice") for m in at.metric)
    files.append((f"{LGG.name}_9_mask.tif", (LGG / f"{LGG.name}_9_mask.tif").read_bytes()))
    partial = _upload(files)  # one mask of three: no ground truth, and the page says why
    assert any("2 of 3 slices have no _mask.tif" in c.value for c in partial.caption)
    other = _upload(files + [("TCGA_ZZ_0001_20000101_1.tif", files[0][1])])
    assert other.error and "upload one patient at a time" in other.error[0].value


def test_an_ultrasound_frame_on_the_mri_page_gets_a_message_and_no_numbers() -> None:
    frame = (ROOT / "data_samples" / "fetal_head" / "training_set" / "404_HC.png").read_bytes()
    at = _upload([("frame.png", frame)])
    assert any("looks like an ultrasound frame" in e.value and "not an MRI slice" in e.value
               for e in at.error)
    assert not at.metric



def test_a_training_patient_is_said_to_be_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A case whose patient the card lists among its training groups is said to be one: its scores
    show the fit, not how the model does on new patients."""
    from dataclasses import replace

    from core.weights import read_card
    from dashboard import widgets

    card = read_card(ROOT / "weights" / "brain_tumor" / "unet")
    listed = replace(card, training={**card.training, "train_groups": [LGG.name]})
    shown: list[str] = []
    monkeypatch.setattr(widgets.st, "info", lambda text, *a, **k: shown.append(text))
    assert widgets.trained_on_notice(listed, LGG.name) and "training patients" in shown[-1]
    assert not widgets.trained_on_notice(listed, "TCGA_XX_0000_20000101") and len(shown) == 1
