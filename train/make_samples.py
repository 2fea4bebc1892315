"""Write the bundled sample cases into data_samples/, in each dataset's real layout.

    python -m train.make_samples            # all tasks
    python -m train.make_samples --task fetal_head --n 8
    python -m train.make_samples --task face          # portraits + demo reference group
    python -m train.make_samples --task face_screening  # phantom demo cases + galleries
    python -m train.make_samples --task brain_mri       # a real LGG patient + NIfTI phantoms + DICOM series

The fetal head samples are real HC18 frames of exams the shipped models held out (``--hc18``
names the HC18 folder, default ``../shared/data/hc18``). The other samples come from the phantom
generators with a fixed seed that training never uses, so the dashboard opens on cases no shipped
model has seen. The face sample is matplotlib's
public-domain portrait ``grace_hopper.jpg``; its demo "reference group" is that ONE photo under
augmentation (see data_samples/face/README.md), not a population.
"""
from __future__ import annotations

import argparse
import csv
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np

from core.datasets.kaggle_3m import patient_folders
from core.roots import SAMPLES_ROOT

SAMPLE_SEED = 424242  # never used for training (training uses 0, evaluation 9001)
log = logging.getLogger("train.make_samples")


HC18_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "hc18"
# Real HC18 frames of exams that the shipped models held out for validation (split seed 0):
# an early, a mid-trimester pair (two frames of one exam), and late heads.
HC18_SAMPLES = ("016_HC.png", "185_HC.png", "404_HC.png", "404_2HC.png", "648_HC.png", "710_HC.png")
LGG_ROOT = HC18_ROOT.parent / "lgg"
LGG_SAMPLE = "TCGA_DU_7304_19930325"  # a patient the shipped brain models held out (split seed 0, 20%)
LGG_README = """# Brain MRI sample: one real lower-grade glioma patient (LGG kaggle_3m)

`TCGA_DU_7304_19930325/` is one patient of the LGG segmentation dataset in its own layout: 36 axial
slices `TCGA_DU_7304_19930325_<n>.tif` (256x256, three channels: pre-contrast, FLAIR,
post-contrast) with the expert's FLAIR-abnormality mask `TCGA_DU_7304_19930325_<n>_mask.tif`
(0/255) beside each, copied unchanged (deflate-compressed TIFFs) from the shared copy of the data.
The files carry neither slice spacing nor pixel size: the dashboard gives sizes in voxels, never mm or mL.

This patient was **held out of the shipped brain models' training** (one of the 3 validation
patients of `python -m train.holdout --data ../shared/data/lgg --seed 0 --val-frac 0.2`), so the brain
page opens on a patient no shipped model has learnt from.

**Licence**: CC BY 3.0 (TCIA's licence for the TCGA-LGG collection); the copy it came from asks for
non-commercial research use.
**Citations**:
- Pedano N, Flanders AE, Scarpace L, et al. Radiology Data from The Cancer Genome Atlas Low Grade
  Glioma [TCGA-LGG] collection. The Cancer Imaging Archive, 2016. doi:10.7937/K9/TCIA.2016.L4LTD3TK
- Clark K, Vendt B, Smith K, et al. The Cancer Imaging Archive (TCIA): maintaining and operating a
  public information repository. J Digit Imaging 2013;26(6):1045-1057.
- Buda M, Saha A, Mazurowski MA. Association of genomic subtypes of lower-grade gliomas with shape
  features automatically extracted by a deep learning algorithm. Computers in Biology and Medicine
  2019;109:218-225. doi:10.1016/j.compbiomed.2019.05.002 (the slices and masks in this layout).
"""

HC18_README = """# Fetal head samples: real HC18 frames

Six frames of the HC18 challenge's training set, in its own layout (`training_set/NNN_HC.png`,
the sonographer's annotation `NNN_HC_Annotation.png` and their rows of
`training_set_pixel_size_and_HC.csv`: pixel size and reference head circumference in mm). The
annotations are filled ellipses, as in the copy the shipped models were trained on (the official
files are 1-pixel outlines; the reader takes both). The exams were held out of the shipped models'
training (their validation split), so the dashboard opens on frames no shipped model has learnt from:

| frame | reference HC (mm) | head size |
|---|---|---|
{rows}

`dicom/fetal_head_phantom.dcm` is a synthetic phantom, kept to show (and test) a DICOM upload with
its pixel size in the header: it is not an ultrasound of a fetus.

**Licence**: CC BY 4.0. **Citation**: van den Heuvel TLA, de Bruijn D, de Korte CL, van Ginneken B,
"Automated measurement of fetal head circumference using 2D ultrasound images", PLoS ONE
2018;13(8):e0200412, doi:10.1371/journal.pone.0200412; data: doi:10.5281/zenodo.1327317.
Made by `python -m train.make_samples --task fetal_head` from the HC18 folder.
"""


def _band(hc_mm: float) -> str:
    return "early (< 100 mm)" if hc_mm < 100 else ("mid (100-200 mm)" if hc_mm < 200 else "late (> 200 mm)")


def make_fetal_head(out: Path, n: int, source: Path | None = None) -> Path:
    """HC18 layout: the real frames :data:`HC18_SAMPLES` (``n`` of them) copied from an HC18 folder
    (``source``, default ``../shared/data/hc18``) with their annotations, CSV rows and a README,
    plus one phantom DICOM frame."""
    from core.datasets import read_hc18
    from train.holdout import copy_hc18_frames, hc18_rows

    source = Path(source or HC18_ROOT)
    header, all_rows = hc18_rows(source)
    rows = {r[0]: r for r in all_rows}
    names = HC18_SAMPLES[: max(1, n)]
    missing = [name for name in names if name not in rows]
    if missing:
        raise SystemExit(f"{source}: frames {', '.join(missing)} not in its CSV")
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as tmp:
        stage = Path(tmp) / "fetal_head"
        copy_hc18_frames(source, stage, header, [rows[name] for name in names])
        cases = list(read_hc18(stage, "training_set"))  # refuses what the reader cannot read
        table = "\n".join(f"| {c.name} | {c.meta['hc_mm']:.2f} | {_band(c.meta['hc_mm'])} |" for c in cases)
        (stage / "README.md").write_text(HC18_README.format(rows=table))
        write_ultrasound_dicom(stage / "dicom" / "fetal_head_phantom.dcm", seed=SAMPLE_SEED + 1)
        if out.exists():
            shutil.rmtree(out)
        shutil.move(str(stage), out)
    return out


def write_ultrasound_dicom(path: Path, seed: int) -> Path:
    """One phantom frame as an uncompressed ultrasound DICOM, spacing in the region sequence.

    Carries no patient identifiers: this is what an anonymised export from a scanner looks like.
    """
    from pydicom.dataset import Dataset
    from pydicom.uid import UltrasoundImageStorage

    from train.phantoms.dicom_series import phantom_dataset
    from train.phantoms.fetal_head import generate

    ph = next(generate(1, seed))
    ds = phantom_dataset(UltrasoundImageStorage, "US", f"medimg-sample-{seed}")
    ds.Rows, ds.Columns = ph.image.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 0, 0
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = ds.Columns - 1, ds.Rows - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX = region.PhysicalDeltaY = ph.pixel_size_mm / 10.0
    ds.SequenceOfUltrasoundRegions = [region]
    ds.ImageComments = f"synthetic phantom; reference HC {ph.hc_mm:.2f} mm"
    ds.PixelData = ph.image.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def make_nerve(out: Path, n: int) -> Path:
    """Kaggle nerve layout: two subjects' sweeps of ``n`` frames each, and two test frames."""
    from train.phantoms.nerve import write_kaggle

    if out.exists():
        shutil.rmtree(out)
    return write_kaggle(out, n_subjects=2, frames_per_subject=n, seed=SAMPLE_SEED, test_n=2,
                        progress=False)


FACE_PORTRAIT = "grace_hopper.jpg"
FACE_HELD_OUT = "skimage_astronaut.jpg"  # the screening phantoms' default held-out identity
FACE_REFERENCE = "reference_group.csv"


def make_face(out: Path, n: int) -> Path:
    """The face portraits and a demo reference-group table from ``n`` augmented copies of one.

    Writes ``grace_hopper.jpg`` (copied byte for byte from matplotlib), ``skimage_astronaut.jpg``
    (scikit-image's astronaut, JPEG quality 92, when scikit-image is installed) and
    ``reference_group.csv`` (of grace_hopper.jpg only):
    ``train.face_measurements`` run over the copies twice, ``--reference interpupillary`` then
    ``outer_canthal``, rows concatenated, so the page's z-scores work with either reference.
    Other files in ``out`` (its README.md) are left alone.
    """
    import cv2
    import matplotlib

    from train.face_measurements import columns, measure_folder

    src = Path(matplotlib.get_data_path()) / "sample_data" / FACE_PORTRAIT
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, out / FACE_PORTRAIT)
    try:
        from skimage import data as skdata
    except ImportError:
        skdata = None
    if skdata is not None:
        rgb = skdata.astronaut()[..., :3]
        cv2.imwrite(str(out / FACE_HELD_OUT), np.ascontiguousarray(rgb[..., ::-1]),
                    [cv2.IMWRITE_JPEG_QUALITY, 92])
    bgr = cv2.imread(str(src), cv2.IMREAD_COLOR)  # read and written by cv2: BGR throughout
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, image in face_variants(bgr, n, SAMPLE_SEED):
            cv2.imwrite(str(Path(tmp) / name), image)  # PNG: no second JPEG loss
        for reference in ("interpupillary", "outer_canthal"):
            rows += measure_folder(Path(tmp), Path(tmp) / f"{reference}.csv", reference=reference)
    with (out / FACE_REFERENCE).open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns(with_mm=False))
        writer.writeheader()
        writer.writerows(rows)
    return out


def face_variants(image: np.ndarray, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """``n`` copies of a portrait (file name, HxWx3): the original, then random rotations
    (+-6 degrees), scales (0.8-1.25), crops (up to 8% off each side), every second one mirrored.
    The file name says what was done to it."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    out = [("variant_00_original.png", image.copy())]
    for i in range(1, n):
        angle, scale = rng.uniform(-6, 6), rng.uniform(0.8, 1.25)
        top, bottom, left, right = (rng.uniform(0, 0.08, 4) * [h, h, w, w]).round().astype(int)
        mirror = i % 2 == 1
        m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        img = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        img = img[top:h - bottom, left:w - right]
        img = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1
                         else cv2.INTER_CUBIC)
        name = f"variant_{i:02d}_rot{angle:+.1f}_scale{scale:.2f}{'_mirror' if mirror else ''}.png"
        out.append((name, np.ascontiguousarray(img[:, ::-1]) if mirror else img))
    return out


GALLERY_SIDE = 256  # gallery photos are cut to the face and stored this size


def make_face_screening(out: Path, n: int) -> Path:
    """Demo cases and galleries of the three screening tasks (train/phantoms/face.py).

    For each task (``skin``, ``syndrome``, ``autism``) writes ``out/<task>/cases/<class>.jpg``: one
    phantom per class on the HELD-OUT identity (scikit-image's astronaut), the photos the page
    offers, with ``<class>_evidence.png`` (where the condition was drawn; empty for the no-finding
    classes); and ``out/<task>/gallery/<class>/<i>.jpg``: ``n`` phantoms per class on the training
    identity (grace_hopper.jpg) with seeds no shipped model trained on, cut to the face and stored
    at 256 px, the gallery of known cases the page ranks by embedding distance.
    """
    import cv2

    from core.face import draw
    from train.phantoms.face import SCREENING, phantom_set

    for task, row in SCREENING.rows.items():
        classes = row.labels
        cases, gallery = out / task / "cases", out / task / "gallery"
        for folder in (cases, gallery):
            if folder.exists():
                shutil.rmtree(folder)
        cases.mkdir(parents=True)
        for ph in phantom_set(task, len(classes), seed=SAMPLE_SEED + 500, identity="held_out"):
            cv2.imwrite(str(cases / f"{ph.label}.jpg"), ph.rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])
            cv2.imwrite(str(cases / f"{ph.label}_evidence.png"), ph.evidence.astype(np.uint8) * 255)
        counts: dict[str, int] = {}
        for ph in phantom_set(task, n * len(classes), seed=SAMPLE_SEED + 900, identity="train"):
            x0, y0, x1, y1 = draw.face_box(ph.landmarks.bbox, ph.rgb.shape[:2], margin=0.3)
            face = cv2.resize(ph.rgb[y0:y1, x0:x1], (GALLERY_SIDE, GALLERY_SIDE),
                              interpolation=cv2.INTER_AREA)
            i = counts[ph.label] = counts.get(ph.label, 0) + 1
            (gallery / ph.label).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(gallery / ph.label / f"{i:02d}.jpg"), face[..., ::-1],
                        [cv2.IMWRITE_JPEG_QUALITY, 90])
    return out


BRAIN_SLICES = 20  # slices of the bundled volumes: keeps data_samples/brain_mri near 3 MB


def make_brain_mri(out: Path, n: int, lgg: Path | None = None) -> Path:
    """Brain MRI samples: one real LGG patient, phantoms in the MSD / nnU-Net NIfTI layout, and one
    zipped DICOM series.

    ``kaggle_3m/``: the real patient :data:`LGG_SAMPLE` copied unchanged from an LGG kaggle_3m
    folder (``lgg``, default ``../shared/data/lgg``) with a README citing the data; without that
    folder the patient already in ``out`` (else in the project's ``data_samples/``) is kept.

    ``imagesTr/`` + ``labelsTr/``: one procedural head volume (``brain_phantom_01``) and ``n`` cases
    of the real s1045 slice with an inserted tumour (one-slice volumes); ``dataset.json`` names the
    labels. ``dicom/brain_phantom_02.zip``: a second phantom volume as an anonymous axial MR DICOM
    series, its labels beside it as ``brain_phantom_02_seg.nii.gz``. Seeds no training run used.
    """
    from core.io.nifti import write_nifti
    from train.phantoms.brain_mri import procedural_case, real_slice_case, write_dataset
    from train.phantoms.dicom_series import series_zip

    source = patient_folders(lgg or LGG_ROOT)[0] / LGG_SAMPLE if Path(lgg or LGG_ROOT).is_dir() else None
    with tempfile.TemporaryDirectory(dir=out.parent if out.parent.is_dir() else None) as tmp:
        patient = Path(tmp) / LGG_SAMPLE
        if source is not None and source.is_dir():
            shutil.copytree(source, patient)
        elif kept := next((d for d in (out, SAMPLES_ROOT / "brain_mri")
                           if (d / "kaggle_3m" / LGG_SAMPLE).is_dir()), None):
            log.warning("%s not found: keeping the bundled LGG patient", lgg or LGG_ROOT)
            shutil.copytree(kept / "kaggle_3m" / LGG_SAMPLE, patient)
        else:
            raise SystemExit(f"{lgg or LGG_ROOT}: no LGG kaggle_3m patient {LGG_SAMPLE} to bundle")
        if out.exists():
            shutil.rmtree(out)
        (out / "kaggle_3m").mkdir(parents=True)
        shutil.move(str(patient), out / "kaggle_3m" / LGG_SAMPLE)
    (out / "kaggle_3m" / "README.md").write_text(LGG_README)
    rng = np.random.default_rng(SAMPLE_SEED)
    phantoms = [procedural_case(rng, "brain_phantom_01", slices=BRAIN_SLICES, tumours=1,
                                kind="necrotic")]
    phantoms += [real_slice_case(rng, f"s1045_tumour_{i + 1:02d}") for i in range(n)]
    write_dataset(out, iter(phantoms))
    second = procedural_case(rng, "brain_phantom_02", slices=BRAIN_SLICES, tumours=1)
    (out / "dicom").mkdir()
    (out / "dicom" / "brain_phantom_02.zip").write_bytes(
        series_zip(second.image, second.spacing_mm, seed=f"medimg-sample-{SAMPLE_SEED}"))
    write_nifti(out / "dicom" / "brain_phantom_02_seg.nii.gz", second.label, second.spacing_mm,
                dtype=np.uint8)
    return out


MAKERS = {"fetal_head": make_fetal_head, "nerve": make_nerve, "face": make_face,
          "face_screening": make_face_screening, "brain_mri": make_brain_mri}
DEFAULT_N = {"fetal_head": len(HC18_SAMPLES), "nerve": 6, "face": 8, "face_screening": 4, "brain_mri": 2}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.make_samples", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=sorted(MAKERS), action="append", help="task(s); default all")
    p.add_argument("--n", type=int, default=0,
                   help="real frames (fetal_head, default 6), frames per subject (nerve, default 6), "
                        "augmented portraits in the demo reference group (face, default 8) or "
                        "gallery photos per class (face_screening, default 4) or real-slice cases "
                        "(brain_mri, default 2)")
    p.add_argument("--root", type=Path, help="output root (default data_samples/)")
    p.add_argument("--hc18", type=Path, help="HC18 folder the fetal head frames are copied from "
                                             "(default ../shared/data/hc18)")
    p.add_argument("--lgg", type=Path, help="LGG kaggle_3m folder the real brain patient is copied from "
                                            "(default ../shared/data/lgg)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in args.task or sorted(MAKERS):
        out = (args.root or SAMPLES_ROOT) / name  # = the task's samples_dir
        if name == "fetal_head":
            make_fetal_head(out, args.n or DEFAULT_N[name], args.hc18)
        elif name == "brain_mri":
            make_brain_mri(out, args.n or DEFAULT_N[name], args.lgg)
        else:
            MAKERS[name](out, args.n or DEFAULT_N[name])
        log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
