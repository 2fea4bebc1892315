"""Face screening: class probabilities for a face photo, one classifier family per row.

Each row's classes, the regions that carry their evidence on the synthetic phantoms, what those
phantoms are, and the caveat its outputs must carry are written here once; the phantom generator
(``train/phantoms/face.py``), ``train.classifier``, the screening page and the model lab read them.
"""
from __future__ import annotations

from core.tasks.spec import ScreeningRow, TaskSpec, register_task

# In the skin row "face_oval" stands for its chin part (the face oval below the lower lip).
SKIN = ScreeningRow(
    name="skin",
    title="Facial skin conditions",
    labels=("acne", "eczema", "rosacea", "healthy"),
    evidence_regions={"acne": ("forehead", "right_cheek", "left_cheek", "nose", "face_oval"),
                      "eczema": ("forehead", "right_cheek", "left_cheek", "face_oval"),
                      "rosacea": ("right_cheek", "left_cheek", "nose"),
                      "healthy": ()},
    phantom_note="Synthetic phantoms: acne, eczema and rosacea are drawn by a program onto augmented "
                 "copies of one real portrait; a model trained on them has never seen a real skin "
                 "condition and its figures say nothing about clinical performance.",
    caveat="No standard benchmark exists for facial skin conditions; web-scraped sets are noisy.",
    needs_colour=True,
)
SYNDROME = ScreeningRow(
    name="syndrome",
    title="Syndrome-like facial shape",
    labels=("wide_set_eyes", "short_fissures_smooth_philtrum", "small_jaw", "unaffected"),
    evidence_regions={"wide_set_eyes": ("right_eye", "left_eye"),
                      "short_fissures_smooth_philtrum": ("right_eye", "left_eye", "lips"),
                      "small_jaw": ("face_oval",),
                      "unaffected": ()},
    phantom_note="Synthetic phantoms: syndrome-like shape changes (wide-set eyes, short eye openings "
                 "with a smooth philtrum, a small jaw) made by warping one real portrait; they model "
                 "no real syndrome and the figures say nothing about recognising one.",
    caveat="Top-N figures depend on the number of classes and the gallery size; both are reported.",
)
AUTISM = ScreeningRow(
    name="autism",
    title="Autism research (demo)",
    labels=("asd_label", "td_label"),
    evidence_regions={"asd_label": ("forehead",), "td_label": ()},
    phantom_note="The two classes differ only by a synthetic marker with no relation to autism (a faint "
                 "chequered stamp on the forehead), so that the pipeline (training, Grad-CAM, pointing "
                 "game) can be demonstrated; it says nothing about faces and autism, and no face photo "
                 "can diagnose autism.",
    caveat=("**Read this first.** A face cannot diagnose autism, and no facial feature is known to "
            "indicate it. The public face-photo sets behind published autism classifiers were scraped "
            "from the web without diagnosis verification or consent; the widely used Kaggle set was "
            "removed and, in December 2025, dozens of papers built on it were retracted or flagged. "
            "Accuracies of 87-99% reported on such data mean nothing clinically. The model here is a "
            "pipeline demonstration: its two classes differ only by an artificial chequered stamp on "
            "the forehead of synthetic images, which has no relation to autism. Its output is never a "
            "diagnosis or a risk score."),
    warn=True,
)

TASK = register_task(TaskSpec(
    name="face_screening",
    title="Face screening",
    kind="classification",
    labels=(),  # each row has its own classes
    modality="frontal face photo (RGB)",
    layouts=("image_folder",),
    models=("skin", "syndrome", "autism"),
    samples="face_screening",
    rows={r.name: r for r in (SKIN, SYNDROME, AUTISM)},
))
