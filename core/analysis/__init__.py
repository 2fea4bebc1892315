"""Per-task analysis pipelines on top of the predictors (:mod:`core.predict`).

* :mod:`core.analysis.fetal_biometry`: head ellipse, HC / BPD / OFD in mm, Hadlock gestational
  age, INTERGROWTH-21st centiles;
* :mod:`core.analysis.fetal_head`: the fetal head pipeline, frame -> mask -> measurements;
* :mod:`core.analysis.brain`: brain tumour volumes in mL and per-volume / per-slice scores.
"""
