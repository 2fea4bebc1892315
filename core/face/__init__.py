"""Face analysis: mediapipe Face Mesh landmarks, facial regions and aligned crops.

``landmarks`` finds the face (478 points in pixels), ``regions`` turns the points into named
polygons, label masks, an eye-aligned face and per-region crops. Research and education use:
nothing here is a diagnosis.
"""
from __future__ import annotations
