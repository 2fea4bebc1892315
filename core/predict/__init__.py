"""Predictors: numpy images or volumes in, frozen results on the input's own grid out.

* :mod:`core.predict.framing`: letterboxing into the network input and back (trimming the
  letterbox bands a file may already carry);
* :mod:`core.predict.segmenter`: :class:`Segmenter` for 2-D images (letterbox, threshold, the
  card's post-processing) and the preprocessing it shares with ``train/``;
* :mod:`core.predict.volume`: :class:`VolumeSegmenter`, a 2-D slice model over a whole volume.
"""
from __future__ import annotations

from core.predict.framing import Letterbox, content_box, letterbox, unletterbox
from core.predict.segmenter import (
    SegmentationResult,
    Segmenter,
    framing_box,
    postprocess,
    prepare_input,
    split_outputs,
)
from core.predict.volume import VolumeSegmentation, VolumeSegmenter
from core.windowing import window_sequences, window_volume

__all__ = ["Letterbox", "SegmentationResult", "Segmenter", "VolumeSegmentation", "VolumeSegmenter",
           "content_box", "framing_box", "letterbox", "postprocess", "prepare_input", "split_outputs",
           "unletterbox", "window_sequences", "window_volume"]
