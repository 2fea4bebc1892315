"""The fuzz table: odd and bad inputs driven through every upload page with AppTest.

Each row of ``CASES`` is one input on one page: the page (a key of ``PAGES``), a case id, the file
name (for the model lab: the typed path), a function that builds the file's bytes in memory, and
what the page must do with it:

* ``refused(text)``: a message containing ``text``; the page stops at the input, so no
  ``st.metric`` and no table at all;
* ``no_result(text)``: the models run but the page withholds its key figure, with the message;
* ``analysed(text)``: the page's key figure is shown (with the message too when ``text`` is given).

Every row also asserts that no exception reached the page. To add a case, append a ``Case`` to
``CASES`` (``slot``, ``first`` and ``sidebar`` reach the ground-truth and reference-group uploaders
and the sidebar radios); a new page needs a ``Page`` in ``PAGES``. A row that shows a bug stays in
the table with ``bug="what is wrong"``: it runs as ``pytest.mark.xfail(strict=True)``, so it fails the
suite once the page is fixed, until the ``bug`` is removed.
"""
from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import nibabel as nib
import numpy as np
import pydicom
import pytest
from streamlit.testing.v1 import AppTest

import core.roots
from core import metrics
from core.tasks import get_task
from core.weights import save_model
from train.classifier import new_model, parse_args, screening_card

ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = ROOT / "dashboard" / "pages"
SAMPLES = ROOT / "data_samples"
PORTRAIT = SAMPLES / "face" / "grace_hopper.jpg"
FETAL_FRAME = SAMPLES / "fetal_head" / "training_set" / "404_HC.png"  # a real HC18 frame
FETAL_PX = 0.235595235  # its pixel size (mm), from the HC18 CSV
TIMEOUT = 180


# ---------------------------------------------------------------- the inputs, built in memory
def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


@cache
def _grey(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, path
    return image


def _fetal() -> np.ndarray:
    return _grey(FETAL_FRAME)


def _nerve() -> np.ndarray:
    return _grey(SAMPLES / "nerve" / "train" / "1_1.tif")


def _brain_slice() -> np.ndarray:
    """A real MR slice: the FLAIR channel of a slice of the bundled LGG patient, at 128x128."""
    folder = SAMPLES / "brain_mri" / "kaggle_3m" / "TCGA_DU_7304_19930325"
    rgb = cv2.imread(str(folder / "TCGA_DU_7304_19930325_18.tif"), cv2.IMREAD_COLOR)
    assert rgb is not None
    return cv2.resize(rgb[..., 1], (128, 128), interpolation=cv2.INTER_AREA)


def _portrait() -> np.ndarray:
    """The bundled portrait (BGR)."""
    return cv2.imread(str(PORTRAIT))


def corrupt(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    return lambda: _png(image())[:40]  # the signature and part of the header: a truncated PNG


def sixteen_bit(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    return lambda: _png(image().astype(np.uint16) * 257)


def rgba(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    def build() -> bytes:
        pixels = image()
        code = cv2.COLOR_GRAY2BGRA if pixels.ndim == 2 else cv2.COLOR_BGR2BGRA
        return _png(cv2.cvtColor(pixels, code))
    return build


def plain(image: Callable[[], np.ndarray]) -> Callable[[], bytes]:
    return lambda: _png(image())


def zero_bytes() -> bytes:
    return b""


def text_file() -> bytes:
    return b"Patient list\nnot an image, only renamed to .png\n"


def one_pixel() -> bytes:
    return _png(np.full((1, 1), 128, np.uint8))


def blank_frame() -> bytes:
    return _png(np.zeros((420, 580), np.uint8))


def colour_photo() -> bytes:
    return PORTRAIT.read_bytes()


def ct_dicom() -> bytes:
    ds = pydicom.dcmread(SAMPLES / "fetal_head" / "dicom" / "fetal_head_phantom.dcm")
    ds.Modality = "CT"
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def _nifti(data: np.ndarray, zooms: tuple[float, float, float] = (1.0, 1.0, 3.0)) -> bytes:
    return gzip.compress(nib.Nifti1Image(data, np.diag([*zooms, 1.0])).to_bytes(), mtime=0)


def brain_volume() -> bytes:
    return _nifti(np.repeat(_brain_slice()[..., None], 4, axis=2).astype(np.int16))


def huge_header() -> bytes:
    """A .nii.gz of a few KB whose header promises 400x400x400 voxels."""
    header = nib.Nifti1Header()
    header.set_data_shape((400, 400, 400))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    return gzip.compress(header.binaryblock + b"\0" * 4 + bytes(4096), mtime=0)


def gzip_bomb() -> bytes:
    """A 10x10x10 NIfTI followed by 8 MiB of zeros: the .gz inflates far past what its header says."""
    small = nib.Nifti1Image(np.zeros((10, 10, 10), np.uint8), np.eye(4)).to_bytes()
    co = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return co.compress(small) + co.compress(bytes(8 << 20)) + co.flush()


def zeros_zip() -> bytes:
    """A zip of 400 zero-filled members: no DICOM among them (a forced parse would take long)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for i in range(400):
            zf.writestr(f"IM{i:04d}", bytes(16 * 1024))
    return buf.getvalue()


def zero_voxel_size() -> bytes:
    """A NIfTI whose header states a voxel size of 0 (what a broken exporter writes)."""
    data = np.repeat(_brain_slice()[..., None], 4, axis=2).astype(np.int16).transpose(1, 0, 2)
    img = nib.Nifti1Image(data, np.eye(4))
    img.header.set_qform(None, code=0)
    img.header.set_sform(None, code=0)
    img.header["pixdim"][1:4] = 0  # nibabel would read it as 1 mm if asked to write it
    return img.header.binaryblock + b"\0" * 4 + data.tobytes(order="F")


def constant_volume() -> bytes:
    return _nifti(np.full((40, 40, 6), 7, np.int16))


def no_face() -> bytes:
    yy, xx = np.mgrid[0:240, 0:320]
    sky = np.stack([200 - yy // 3, 150 + xx // 8, 90 + yy // 4], axis=-1).astype(np.uint8)
    return _jpeg(sky)


def tiny_face() -> bytes:
    """The portrait shrunk to 80 px wide on a grey canvas: a face under 64 px across."""
    photo = _portrait()
    small = cv2.resize(photo, (80, round(80 * photo.shape[0] / photo.shape[1])), interpolation=cv2.INTER_AREA)
    canvas = np.full((256, 256, 3), 120, np.uint8)
    canvas[10:10 + small.shape[0], 10:10 + small.shape[1]] = small
    return _png(canvas)


def grey_portrait() -> bytes:
    return _jpeg(cv2.cvtColor(_portrait(), cv2.COLOR_BGR2GRAY))


def unrelated_csv() -> bytes:
    return b"id,age,weight\n1,34,70\n2,51,82\n"


# ---------------------------------------------------------------- what a page must do
@dataclass(frozen=True)
class Expect:
    """What the page must show for a row's input.

    Attributes:
        analysed: the page's key figure is shown (False: it is not).
        message: text one of the page's ``where`` elements contains, or None.
        where: ``error``, ``warning``, ``info`` or ``caption``.
        stops: the page stopped at the input: no st.metric and no table at all.
        never: text no st.metric (label or value) and no table column may hold.
    """

    analysed: bool
    message: str | None = None
    where: str = "error"
    stops: bool = False
    never: str | None = None


def refused(message: str, where: str = "error") -> Expect:
    return Expect(False, message, where, stops=True)


def no_result(message: str, where: str = "error") -> Expect:
    return Expect(False, message, where)


def analysed(message: str | None = None, where: str = "caption", never: str | None = None) -> Expect:
    return Expect(True, message, where, never=never)


# ---------------------------------------------------------------- the pages
def _has_metric(label: str) -> Callable[[AppTest], bool]:
    return lambda at: any(m.label.startswith(label) for m in at.metric)


def _has_column(column: str) -> Callable[[AppTest], bool]:
    return lambda at: any(column in d.value.columns for d in at.dataframe)


def _state_fetal_pixel_size(at: AppTest) -> None:
    """A PNG carries no pixel size: type the HC18 frame's, as a user would, to get an HC."""
    boxes = [n for n in at.number_input if n.key and n.key.startswith("fetal_px_")]
    if boxes and boxes[0].value is None:
        boxes[0].set_value(FETAL_PX).run()


@dataclass(frozen=True)
class Page:
    """An upload page: its file, widget key prefix and key figure (``result``).

    ``needs``: a fixture the page reads (monkeypatched in by ``_setup``); ``sidebar``: widget values
    (by key) set before the first run; ``after``: a step after the upload (the fetal pixel size).
    The model lab's key figure is its Evaluate step: the typed folder was accepted.
    """

    file: str
    key: str
    result: Callable[[AppTest], bool]
    sidebar: tuple[tuple[str, Any], ...] = ()
    needs: str | None = None
    after: Callable[[AppTest], None] | None = None
    multiple: bool = False  # the uploader takes several files


PAGES = {
    "fetal": Page("fetal_biometry.py", "fetal", _has_metric("Head circumference"),
                  after=_state_fetal_pixel_size),
    "nerve": Page("nerve.py", "nerve", _has_column("Presence probability")),
    "brain": Page("brain_mri.py", "brain", _has_metric("Predicted tumour"), multiple=True),
    "face": Page("face.py", "face", _has_column("definition")),
    "screening": Page("face_screening.py", "screen", _has_column("probability"),
                      sidebar=(("screen_task", "skin"),), needs="screening_weights"),
    "lab": Page("model_lab.py", "lab", lambda at: any("Press **Evaluate**" in i.value for i in at.info),
                needs="lab_cache"),
}


@dataclass(frozen=True)
class Case:
    """One row: ``data`` builds the bytes of ``name`` (None for the model lab, where ``name`` is the
    typed path); ``slot`` is the uploader (``{key}_{slot}``); ``first`` is uploaded before it into
    ``{key}_upload`` (the image a ground truth belongs to); ``sidebar`` radios are set first; ``bug``
    says what the page does wrong (the row is then a strict xfail)."""

    page: str
    id: str
    name: str
    data: Callable[[], bytes] | None
    expect: Expect
    slot: str = "upload"
    first: tuple[str, Callable[[], bytes]] | None = None
    sidebar: tuple[tuple[str, Any], ...] = ()
    bug: str | None = None


def _image_rows(page: str, frame: Callable[[], np.ndarray]) -> list[Case]:
    """The rows every image page gets: damaged, empty and odd files, and the frame itself."""
    return [
        Case(page, "frame", "frame.png", plain(frame), analysed()),
        Case(page, "truncated-png", "broken.png", corrupt(frame), refused("Cannot read broken.png")),
        Case(page, "zero-bytes", "empty.png", zero_bytes, refused("Cannot read empty.png")),
        Case(page, "text-as-png", "notes.png", text_file, refused("Cannot read notes.png")),
        Case(page, "16-bit", "frame16.png", sixteen_bit(frame), analysed()),
        Case(page, "rgba", "frame_rgba.png", rgba(frame), analysed()),
    ]


ULTRASOUND = [
    *_image_rows("fetal", _fetal),
    Case("fetal", "one-pixel", "dot.png", one_pixel, no_result("no head found")),
    Case("fetal", "blank", "blank.png", blank_frame, no_result("no head found")),
    Case("fetal", "colour-photo", "photo.jpg", colour_photo, refused("is a colour picture")),
    Case("fetal", "ct-dicom", "scan.dcm", ct_dicom, refused("modality 'CT', not ultrasound")),
    Case("fetal", "grey-photo", "grey.jpg", grey_portrait, refused("looks like a photograph")),
    Case("fetal", "mri-slice", "slice.png", plain(_brain_slice), refused("looks like an MRI slice")),
    *_image_rows("nerve", _nerve),
    Case("nerve", "one-pixel", "dot.png", one_pixel, refused("a single grey level")),
    Case("nerve", "blank", "blank.png", blank_frame, refused("a single grey level")),
    Case("nerve", "colour-photo", "photo.jpg", colour_photo, refused("is a colour picture")),
    Case("nerve", "ct-dicom", "scan.dcm", ct_dicom, refused("modality 'CT', not ultrasound")),
    Case("nerve", "grey-photo", "grey.jpg", grey_portrait, refused("looks like a photograph")),
]

BRAIN = [
    *_image_rows("brain", _brain_slice),
    Case("brain", "one-pixel", "dot.png", one_pixel, analysed("every voxel has the same value", "warning")),
    Case("brain", "blank", "blank.png", blank_frame, analysed("every voxel has the same value", "warning")),
    Case("brain", "ct-dicom", "scan.dcm", ct_dicom, refused("Cannot read scan.dcm")),
    Case("brain", "nifti", "vol.nii.gz", brain_volume, analysed()),
    Case("brain", "ultrasound-frame", "frame.png", plain(_fetal), refused("looks like an ultrasound frame")),
    Case("brain", "grey-photo", "grey.png", lambda: _png(_grey(PORTRAIT)),
         refused("looks like a photograph")),
    Case("brain", "huge-header", "big.nii.gz", huge_header, refused("400x400x400 voxels, over the limit")),
    Case("brain", "gzip-bomb", "bomb.nii.gz", gzip_bomb, refused("expands to over")),
    Case("brain", "zip-of-zeros", "series.zip", zeros_zip, refused("400 of 400 files skipped")),
    Case("brain", "zero-voxel-size", "flat.nii", zero_voxel_size,
         analysed("spacing unknown", never="mL")),
    Case("brain", "constant-volume", "constant.nii.gz", constant_volume,
         analysed("every voxel has the same value", "warning")),
    Case("brain", "image-as-label", "label.nii.gz", brain_volume,
         analysed("an image, not a label volume", "error", never="Dice / IoU"),
         slot="truth", first=("vol.nii.gz", brain_volume)),
]

FACES = [
    Case("face", "portrait", "portrait.jpg", colour_photo, analysed()),
    Case("face", "truncated-jpeg", "broken.jpg", lambda: colour_photo()[:500],
         refused("Cannot read broken.jpg")),
    Case("face", "zero-bytes", "empty.png", zero_bytes, refused("Cannot read empty.png")),
    Case("face", "text-as-png", "notes.png", text_file, refused("Cannot read notes.png")),
    Case("face", "one-pixel", "dot.png", one_pixel, refused("no face found")),
    Case("face", "blank", "blank.png", blank_frame, refused("no face found")),
    Case("face", "no-face", "sky.jpg", no_face, refused("no face found")),
    Case("face", "tiny-face", "small.png", tiny_face, refused("too small to measure")),
    Case("face", "ultrasound-frame", "frame.png", plain(_fetal), refused("looks like an ultrasound frame")),
    Case("face", "16-bit", "portrait16.png", sixteen_bit(_portrait), analysed()),
    Case("face", "rgba", "portrait_rgba.png", rgba(_portrait), analysed()),
    Case("face", "greyscale", "grey.jpg", grey_portrait, analysed()),
    Case("face", "unrelated-csv-group", "patients.csv", unrelated_csv,
         analysed("is not a reference group table", "error", never="z_score"),
         slot="group_csv", sidebar=(("face_group", "Upload CSV"),)),
    Case("screening", "portrait", "portrait.jpg", colour_photo, analysed()),
    Case("screening", "truncated-jpeg", "broken.jpg", lambda: colour_photo()[:500],
         refused("Cannot read broken.jpg")),
    Case("screening", "zero-bytes", "empty.png", zero_bytes, refused("Cannot read empty.png")),
    Case("screening", "text-as-png", "notes.png", text_file, refused("Cannot read notes.png")),
    Case("screening", "one-pixel", "dot.png", one_pixel, refused("no face found")),
    Case("screening", "blank", "blank.png", blank_frame, refused("no face found")),
    Case("screening", "no-face", "sky.jpg", no_face, refused("no face found")),
    Case("screening", "tiny-face", "small.png", tiny_face, refused("too small to measure")),
    Case("screening", "ultrasound-frame", "frame.png", plain(_fetal),
         refused("looks like an ultrasound frame")),
    Case("screening", "16-bit", "portrait16.png", sixteen_bit(_portrait), analysed()),
    Case("screening", "rgba", "portrait_rgba.png", rgba(_portrait), analysed()),
    Case("screening", "greyscale-skin", "grey.jpg", grey_portrait, refused("is a greyscale photo")),
    Case("screening", "greyscale-syndrome", "grey.jpg", grey_portrait, analysed(),
         sidebar=(("screen_task", "syndrome"),)),
]

LAB = [
    Case("lab", "bundled-folder", "data_samples/fetal_head", None, analysed()),
    Case("lab", "unknown-user", "~nonexistentuser/x", None, refused("type")),
    Case("lab", "5000-characters", "x" * 5000, None, refused("type")),
    Case("lab", "nul-byte", "data\x00samples", None, refused("type")),
    Case("lab", "outside-the-roots", "/etc", None, refused("outside the allowed data roots")),
]

CASES = [*ULTRASOUND, *BRAIN, *FACES, *LAB]


# ---------------------------------------------------------------- fixtures the pages read
SCREENING = get_task("face_screening")


@pytest.fixture(scope="module")
def screening_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A weights root with tiny random-init skin and syndrome screeners: the rows test the input
    handling, not the shipped models, and these run in a fraction of a second."""
    root = tmp_path_factory.mktemp("weights")
    rng = np.random.default_rng(0)
    for task in ("skin", "syndrome"):
        labels = list(SCREENING.rows[task].labels)
        args = parse_args(["--phantoms", "8", "--screen-task", task, "--widths", "4", "8",
                           "--region-widths", "4", "8", "--face-size", "64", "--crop-size", "32"])
        probs = rng.dirichlet(np.ones(len(labels)), size=12)
        report = metrics.classification_report(np.arange(12) % len(labels), probs, labels)
        card = screening_card(args, labels, training={"synthetic": True, "screen_task": task,
                                                      "data": "tiny test phantoms"})
        save_model(new_model(args, len(labels), seed=0), replace(card, metrics={"phantom_test": report}),
                   root / "face_screening" / task)
    (root / "modality").symlink_to(ROOT / "weights" / "modality")  # the shipped upload check
    return root


@pytest.fixture(scope="module")
def lab_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty result cache of the model lab's own (nothing is evaluated here)."""
    return tmp_path_factory.mktemp("lab_cache")


def _setup(page: Page, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    if page.needs == "screening_weights":
        monkeypatch.setattr(core.roots, "WEIGHTS_ROOT", request.getfixturevalue(page.needs))
    elif page.needs == "lab_cache":
        monkeypatch.setenv("MEDIMG_LAB_CACHE", str(request.getfixturevalue(page.needs)))
        monkeypatch.delenv("DATA_ROOT", raising=False)  # the allowed roots: the bundled samples only


# ---------------------------------------------------------------- the run
def _upload(at: AppTest, page: Page, slot: str, name: str, data: bytes) -> None:
    value = (name, data, "application/octet-stream")
    at.file_uploader(key=f"{page.key}_{slot}").set_value([value] if page.multiple and slot == "upload"
                                                         else value).run()


def _open(case: Case) -> AppTest:
    page = PAGES[case.page]
    at = AppTest.from_file(str(PAGES_DIR / page.file), default_timeout=TIMEOUT)
    # The radios are set before the first run, as a user's earlier choices: the page then never
    # analyses its bundled sample first (a second run of the models per row).
    for key, value in dict(page.sidebar + case.sidebar).items():
        at.session_state[key] = value
    if case.data is None:  # a typed path
        at.session_state[f"{page.key}_path"] = case.name
        return at.run()
    if case.slot == "upload" or case.first:
        at.session_state[f"{page.key}_source"] = "Upload"
    at.run()
    if case.first:
        _upload(at, page, "upload", case.first[0], case.first[1]())
    _upload(at, page, case.slot, case.name, case.data())
    if page.after and not at.exception:
        page.after(at)
    return at


def _shown(at: AppTest) -> str:
    """Everything the page said, for a failing row's message."""
    parts = [f"{kind}: {e.value}" for kind in ("error", "warning", "info", "caption")
             for e in getattr(at, kind)]
    parts += [f"metric: {m.label} = {m.value}" for m in at.metric]
    return "\n".join(parts)


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.page}-{c.id}", marks=pytest.mark.xfail(
    strict=True, reason=c.bug) if c.bug else ()) for c in CASES])
def test_the_page_answers_the_input(case: Case, request: pytest.FixtureRequest,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    page, expect = PAGES[case.page], case.expect
    _setup(page, request, monkeypatch)
    at = _open(case)
    assert not at.exception, [e.value for e in at.exception]
    said = _shown(at)
    if expect.message is not None:
        assert any(expect.message in e.value for e in getattr(at, expect.where)), said
    assert page.result(at) == expect.analysed, said
    if expect.stops:
        assert not at.metric and not at.dataframe, said
    if expect.never is not None:
        assert not any(expect.never in m.label or expect.never in m.value for m in at.metric), said
        assert not any(expect.never in str(c) for d in at.dataframe for c in d.value.columns), said
