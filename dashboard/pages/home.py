"""Home: what the dashboard does, the model cards in plain words, intended use."""
from __future__ import annotations

import streamlit as st

from core.tasks import TASKS
from dashboard import cache, widgets

st.title("Medical image analysis dashboard")
st.markdown(
    "Look at a case and see what a model sees: its mask or its class probabilities beside the "
    "ground truth, the measurements computed from them with their units, and where the network "
    "looked. Pick an analysis in the sidebar."
)
st.markdown(
    "- **Fetal head biometry**: ultrasound frame (HC18 style) → head mask (U-Net or SegNet) → "
    "fitted ellipse → head circumference, BPD and OFD in mm → gestational age (Hadlock 1984) and "
    "the INTERGROWTH-21st centile for a stated gestational age.\n"
    "- **Ultrasound nerve segmentation**: brachial plexus frame (Kaggle 2016 style) → a plain "
    "U-Net, MobileNetV2- and VGG-encoder U-Nets and a CNN without skips side by side, each with "
    "its nerve-present probability and Dice, where they disagree, and how they compare over "
    "held-out subjects.\n"
    "- **Brain tumour MRI**: a real lower-grade glioma patient (LGG kaggle_3m slices, three sequences), "
    "a volume (NIfTI, a zipped DICOM series or several DICOM files) or one slice → a 2-D U-Net on "
    "every axial slice (three sequences when the input has them, else FLAIR), stacked back into the "
    "volume → axial, coronal and sagittal slices with window and level, prediction beside ground "
    "truth and the error map → Dice, IoU and HD95 per slice and for the volume, tumour volume in mL "
    "(voxels when the files state no spacing), the predicted mask as NIfTI on the original grid.\n"
    "- **Face analysis**: a frontal photo (bundled portraits, upload or webcam) → mediapipe Face "
    "Mesh's 478 landmarks → facial regions (eyes, brows, nose, lips, forehead, cheeks, the rest "
    "of the face) as coloured masks with their areas, beside a face parser trained on real "
    "labelled faces (FASSEG: hair, skin, eyes, nose, mouth) and the agreement of each → 15 facial "
    "measurements with their "
    "definitions, drawn as lines on the face, in mm when the scale is known, and z-scores against "
    "a reference group's table.\n"
    "- **Face screening**: a photo → skin-condition, syndrome-like shape and autism-research demo "
    "classifiers (whole face + six facial regions, their outputs averaged) → probabilities, top-N, "
    "what each region voted, Grad-CAM, and the closest cases of a gallery, or an explicit 'out of "
    "range'. Demo weights trained on synthetic phantoms (conditions drawn on real people's faces); "
    "on a real photo they can only say 'none of the drawn conditions' or 'out of range'.\n"
    "- **Model lab**: point it at a dataset folder → every shipped model of that task evaluated "
    "case by case, aggregates with confidence intervals, the worst cases first with prediction "
    "and ground truth side by side, paired comparisons, classifier curves."
)

st.subheader("Models and their cards")
# Segmentation tasks scored on a labelled test set; the face pages show their own models' cards.
cards = {name: cache.available_models(name) for name, task in TASKS.items() if task.evaluable}
real = sorted({TASKS[name].title for name, task_cards in cards.items() for c in task_cards.values()
               if not c.synthetic})
phantom = sorted({TASKS[name].title for name, task_cards in cards.items() for c in task_cards.values()
                  if c.synthetic})
st.markdown(
    "Each card below says what trained and validated its model; no pretrained weights were used. "
    + (f"**Trained on real, labelled images**: {', '.join(real)} (validated on held-out subjects, "
       "figures with their n and 95% confidence intervals). " if real else "")
    + (f"**Trained on synthetic phantoms** made by `train/phantoms/`: {', '.join(phantom)} and the face "
       "screening demos; their figures are measured on fresh phantoms, not on patients, and say nothing "
       "about clinical accuracy. " if phantom else "")
    + "Train on your own data with `python -m train.segmentation`."
)
for name, task_cards in cards.items():
    for model, card in task_cards.items():
        widgets.card_panel(TASKS[name], model, card)
if not any(cards.values()):
    st.warning("No model cards found under weights/.")

st.subheader("Intended use")
st.markdown(
    "Research and education: clinicians exploring cases, researchers checking model behaviour. "
    "**This is not a medical device.** Nothing shown here is a diagnosis; centile flags are "
    "screening prompts for a qualified person to check. Uploaded images are processed in memory "
    "and never stored."
)
