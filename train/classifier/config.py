"""Train a face screening ensemble (whole-face CNN + region CNNs, mean of softmaxes).

    python -m train.classifier --phantoms 1200 --screen-task skin --out weights/face_screening/skin
    python -m train.classifier --data my_photos/ --screen-task syndrome --out runs/syndrome
    python -m train.classifier --csv labels.csv --screen-task skin --folds 10

Data: ``--data DIR`` in the ImageFolder layout (one sub-folder per class, photos anywhere below
it), ``--csv FILE`` with ``path,label`` rows (paths relative to the CSV), or ``--phantoms N``
synthetic faces of ``--screen-task`` (train/phantoms/face.py; their landmarks are known). Landmarks
are detected ONCE per photo (photos without a face are skipped and counted), the face is aligned
and the region crops cut exactly as the predictor does (core.face.screening.prepare_inputs), and
everything is held in memory; batches get light on-the-fly jitter (shift, rotation, scale,
colour, mirror).

Loss: class-weighted cross-entropy (inverse class frequency) on every member's logits, summed.
AdamW with a warm-up and cosine schedule over the planned steps or the time limit. Validation:
stratified k-fold cross-validation when the smallest class has fewer than 30 photos (``--folds``,
default 5), else one stratified 80/20 split; the card records the report of the OUT-OF-FOLD
predictions and every fold's figures, then the final model is trained on all the data. With
``--phantoms`` the final model is also scored on ``--test-phantoms`` faces of a HELD-OUT identity,
with the Grad-CAM pointing game against the phantoms' known evidence regions.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from core.face.abstain import TRAINING_GALLERY
from core.face.screening import SCREEN_REGIONS
from core.models.screening import BACKBONES, DEFAULT_REGIONS, LSE_R, POOLS
from core.tasks import get_task
from train.config import RunConfig

SMALL_CLASS = 30  # below this many photos in the smallest class, k-fold instead of one split


GALLERY_FILE = TRAINING_GALLERY


SCREENING = get_task("face_screening")  # rows: classes, phantom notes, caveats


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig(RunConfig):
    """Everything a ``train.classifier`` run is given; :func:`parse_args` fills it from the command
    line (the options' help says what each field means) and the card records it (``to_json``).
    ``data`` / ``csv`` / ``phantoms``: exactly one source of faces.
    """

    screen_task: str
    data: Path | None = None
    csv: Path | None = None
    phantoms: int | None = None
    out: Path | None = None
    test_phantoms: int = 200
    phantom_seed: int = 0
    identity_variation: float = 0.0
    identities: list[Path] | None = None
    held_out_persons: int = 0
    identity_seed: int = 0
    abstain_target: float = 0.95
    test_seed: int = 2026
    folds: int | None = None
    epochs: int = 30
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 5e-4
    face_size: int = 128
    crop_size: int = 96
    crop_margin: float = 0.15
    eye_distance: float = 0.35
    eye_y: float = 0.4
    colour: str = "skin_balance"
    regions: list[str] = field(default_factory=lambda: list(DEFAULT_REGIONS))
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    backbone: str = "small_cnn"
    region_widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    pool: str = "avg"
    region_pool: str = "avg"
    lse_r: float = LSE_R
    pretrained: Path | None = None
    gallery_out: bool = False
    seed: int = 0
    threads: int = 0
    time_limit_min: float = 0.0


def parse_args(argv: list[str] | None = None) -> ClassifierConfig:
    """The configuration from a command line (``sys.argv[1:]`` when ``argv`` is None)."""
    p = argparse.ArgumentParser(prog="python -m train.classifier", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="ImageFolder: one sub-folder of photos per class")
    src.add_argument("--csv", type=Path, help="CSV of path,label rows (paths relative to the CSV)")
    src.add_argument("--phantoms", type=int, help="train on N synthetic phantom faces of --screen-task")
    p.add_argument("--screen-task", required=True, choices=list(SCREENING.rows),
                   help="which screening task the model serves (phantom classes, card caveats)")
    p.add_argument("--out", type=Path, help="weights folder (default weights/face_screening/<task>)")
    p.add_argument("--test-phantoms", type=int, default=200,
                   help="with --phantoms: faces of the HELD-OUT identity scored at the end")
    p.add_argument("--phantom-seed", type=int, default=0, help="seed of the training phantoms")
    p.add_argument("--identity-variation", type=float, default=0.0,
                   help="share of training phantoms whose face is first made to look less like the one "
                        "training portrait (skin smoothed, tone shifted; train/phantoms/face.py)")
    p.add_argument("--identities", type=Path, nargs="+",
                   help="with --phantoms: photos (files or folders) of real people WITHOUT any of the "
                        "conditions; the phantoms are drawn on them (every person every class), so the "
                        "no-condition class is their real faces (default: the one bundled portrait)")
    p.add_argument("--held-out-persons", type=int, default=0,
                   help="with --identities: persons held out (split by person, train/face_identities.py): "
                        "their phantoms are the held-out test, their untouched photos the real "
                        "no-condition faces on which the out-of-range thresholds are chosen")
    p.add_argument("--identity-seed", type=int, default=0, help="seed of the person split")
    p.add_argument("--abstain-target", type=float, default=0.95,
                   help="share of held-out real no-condition faces that must get the no-condition class "
                        "or out-of-range; the confidence threshold is the smallest that reaches it")
    p.add_argument("--test-seed", type=int, default=2026, help="seed of the held-out test phantoms")
    p.add_argument("--folds", type=int, help="k-fold cross-validation; 1: one stratified 80/20 split; "
                   f"0: none (default: 5 when the smallest class has < {SMALL_CLASS} photos, else 1)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--face-size", type=int, default=128, help="side of the aligned face in pixels")
    p.add_argument("--crop-size", type=int, default=96,
                   help="side of the region crops in pixels (small cues such as a faint forehead marker "
                        "or acne papules need 96; 64 trains about 1.3x faster)")
    p.add_argument("--crop-margin", type=float, default=0.15)
    p.add_argument("--eye-distance", type=float, default=0.35, help="eye-centre distance / face side")
    p.add_argument("--eye-y", type=float, default=0.4, help="eye height / face side")
    p.add_argument("--colour", choices=("skin_balance", "none"), default="skin_balance",
                   help="balance each face's median skin colour to a fixed tone before the networks "
                        "(default), or leave the colours as photographed")
    p.add_argument("--regions", nargs="+", default=list(DEFAULT_REGIONS), choices=list(SCREEN_REGIONS))
    p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64, 128], help="whole-face CNN stages")
    p.add_argument("--backbone", choices=BACKBONES, default="small_cnn",
                   help="whole-face network: our small CNN (default) or torchvision's mobilenet_v3_small "
                        "(random init; --pretrained loads a local torchvision checkpoint into it)")
    p.add_argument("--region-widths", type=int, nargs="+", default=[16, 32, 64, 128],
                   help="region CNN stages")
    p.add_argument("--pool", choices=POOLS, default="avg",
                   help="whole-face network's global pooling: avg, max, or lse (log-sum-exp, a smooth "
                        "maximum: 'is the finding anywhere?', which keeps a Grad-CAM of the last stage on "
                        "the finding)")
    p.add_argument("--region-pool", choices=POOLS, default="avg", help="region networks' global pooling")
    p.add_argument("--lse-r", type=float, default=LSE_R, help="sharpness of lse pooling (0: mean, inf: max)")
    p.add_argument("--pretrained", type=Path,
                   help="local safetensors file (or weights folder) to start from; tensors matched by "
                        "name and shape, the rest random")
    p.add_argument("--gallery-out", action="store_true",
                   help=f"write the training set's embeddings as {GALLERY_FILE} next to the weights")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--time-limit-min", type=float, default=0.0,
                   help="stop after this many minutes in all (0: none), shared by the folds and the "
                        "final model; each schedule anneals by its share")
    tokens = sys.argv[1:] if argv is None else list(argv)
    return ClassifierConfig.from_args(p.parse_args(tokens), tokens)
