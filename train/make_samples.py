"""Write the bundled sample cases into data_samples/, in each dataset's real layout.

    python -m train.make_samples            # all tasks
    python -m train.make_samples --task fetal_head --n 8

Samples come from the phantom generators with a fixed seed that training never uses, so the
dashboard opens on cases no shipped model has seen.
"""
from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path

from core.tasks import get_task

SAMPLE_SEED = 424242  # never used for training (training uses 0, evaluation 9001)
log = logging.getLogger("train.make_samples")


def make_fetal_head(out: Path, n: int) -> Path:
    """HC18 layout: training_set with annotations and CSV, and a small test_set."""
    from train.phantoms.hc18 import write_hc18

    if out.exists():
        shutil.rmtree(out)
    write_hc18(out, n=n, seed=SAMPLE_SEED, test_n=2, second_frame_every=4, progress=False)
    write_ultrasound_dicom(out / "dicom" / "fetal_head_phantom.dcm", seed=SAMPLE_SEED + 1)
    return out


def write_ultrasound_dicom(path: Path, seed: int) -> Path:
    """One phantom frame as an uncompressed ultrasound DICOM, spacing in the region sequence.

    Carries no patient identifiers: this is what an anonymised export from a scanner looks like.
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

    from train.phantoms.fetal_head import generate

    ph = next(generate(1, seed))
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    # Derived from the seed so that re-making the samples rewrites identical files.
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[f"medimg-sample-{seed}"])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = UltrasoundImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID = "US", "Phantom^Synthetic", "PHANTOM"
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


MAKERS = {"fetal_head": make_fetal_head, "nerve": make_nerve}
DEFAULT_N = {"fetal_head": 7, "nerve": 6}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m train.make_samples", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=sorted(MAKERS), action="append", help="task(s); default all")
    p.add_argument("--n", type=int, default=0,
                   help="exams (fetal_head, default 7) or frames per subject (nerve, default 6)")
    p.add_argument("--root", type=Path, help="output root (default data_samples/)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in args.task or sorted(MAKERS):
        out = (args.root / name) if args.root else get_task(name).samples_dir
        MAKERS[name](out, args.n or DEFAULT_N[name])
        log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
