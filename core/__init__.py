"""Inference package of the medical image dashboard.

numpy arrays in, frozen dataclasses out. Never imports streamlit or dashboard code.
"""
from __future__ import annotations

__version__ = "0.1.0"
