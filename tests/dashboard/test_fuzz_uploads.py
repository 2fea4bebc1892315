"""The fuzz table: odd and bad inputs driven through every upload page with AppTest.

Each row of ``CASES`` is one input on one page: the page (a key of ``PAGES``), a case id, the file
name (for the model lab: the typed path), a function that builds the file's bytes in memory
(:mod:`tests.dashboard.fuzz_inputs`), and
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

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

import core.roots
from core import metrics
from core.tasks import get_task
from core.weights import save_model
from tests.dashboard.fuzz_inputs import (
    blank_frame,
    brain_slice,
    brain_volume,
    colour_photo,
    constant_volume,
    corrupt,
    ct_dicom,
    fetal_frame,
    grey_portrait,
    grey_portrait_png,
    gzip_bomb,
    huge_header,
    nerve_frame,
    no_face,
    one_pixel,
    plain,
    portrait,
    rgba,
    sixteen_bit,
    text_file,
    tiny_face,
    unrelated_csv,
    zero_bytes,
    zero_voxel_size,
    zeros_zip,
)
from train.classifier import new_model, parse_args, screening_card

ROOT = Path(__file__).resolve().parents[2]
PAGES_DIR = ROOT / "dashboard" / "pages"
FETAL_PX = 0.235595235  # the pixel size (mm) of fuzz_inputs.FETAL_FRAME, from the HC18 CSV
TIMEOUT = 180


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
    *_image_rows("fetal", fetal_frame),
    Case("fetal", "one-pixel", "dot.png", one_pixel, no_result("no head found")),
    Case("fetal", "blank", "blank.png", blank_frame, no_result("no head found")),
    Case("fetal", "colour-photo", "photo.jpg", colour_photo, refused("is a colour picture")),
    Case("fetal", "ct-dicom", "scan.dcm", ct_dicom, refused("modality 'CT', not ultrasound")),
    Case("fetal", "grey-photo", "grey.jpg", grey_portrait, refused("looks like a photograph")),
    Case("fetal", "mri-slice", "slice.png", plain(brain_slice), refused("looks like an MRI slice")),
    *_image_rows("nerve", nerve_frame),
    Case("nerve", "one-pixel", "dot.png", one_pixel, refused("a single grey level")),
    Case("nerve", "blank", "blank.png", blank_frame, refused("a single grey level")),
    Case("nerve", "colour-photo", "photo.jpg", colour_photo, refused("is a colour picture")),
    Case("nerve", "ct-dicom", "scan.dcm", ct_dicom, refused("modality 'CT', not ultrasound")),
    Case("nerve", "grey-photo", "grey.jpg", grey_portrait, refused("looks like a photograph")),
]

BRAIN = [
    *_image_rows("brain", brain_slice),
    Case("brain", "one-pixel", "dot.png", one_pixel, analysed("every voxel has the same value", "warning")),
    Case("brain", "blank", "blank.png", blank_frame, analysed("every voxel has the same value", "warning")),
    Case("brain", "ct-dicom", "scan.dcm", ct_dicom, refused("Cannot read scan.dcm")),
    Case("brain", "nifti", "vol.nii.gz", brain_volume, analysed()),
    Case("brain", "ultrasound-frame", "frame.png", plain(fetal_frame),
         refused("looks like an ultrasound frame")),
    Case("brain", "grey-photo", "grey.png", grey_portrait_png, refused("looks like a photograph")),
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
    Case("face", "ultrasound-frame", "frame.png", plain(fetal_frame),
         refused("looks like an ultrasound frame")),
    Case("face", "16-bit", "portrait16.png", sixteen_bit(portrait), analysed()),
    Case("face", "rgba", "portrait_rgba.png", rgba(portrait), analysed()),
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
    Case("screening", "ultrasound-frame", "frame.png", plain(fetal_frame),
         refused("looks like an ultrasound frame")),
    Case("screening", "16-bit", "portrait16.png", sixteen_bit(portrait), analysed()),
    Case("screening", "rgba", "portrait_rgba.png", rgba(portrait), analysed()),
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
