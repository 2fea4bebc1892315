"""Synthetic data generators with known ground truth, one per task."""
