"""Validation plans for the screening trainer: stratified k-fold or one stratified split."""
from __future__ import annotations

import logging

import numpy as np

from train.classifier.config import SMALL_CLASS

log = logging.getLogger("train.classifier")


def stratified_folds(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold index (0..k-1) per case: each class shuffled and dealt round the folds in turn,
    continuing where the previous class stopped, so classes and fold sizes both balance."""
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), np.int64)
    start = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        folds[idx] = (start + np.arange(len(idx))) % k
        start = (start + len(idx)) % k
    return folds


def stratified_split(y: np.ndarray, val_frac: float, seed: int) -> np.ndarray:
    """Bool mask of validation cases: ``val_frac`` of each class (at least one of a class with
    two or more cases), drawn at random."""
    rng = np.random.default_rng(seed)
    val = np.zeros(len(y), bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = min(len(idx) - 1, max(1, round(val_frac * len(idx)))) if len(idx) > 1 else 0
        val[idx[:n]] = True
    return val


def validation_plan(y: np.ndarray, folds: int | None, seed: int) -> list[np.ndarray]:
    """Validation masks, one per fold (empty list: no validation)."""
    smallest = int(np.bincount(y).min()) if len(y) else 0
    k = (5 if smallest < SMALL_CLASS else 1) if folds is None else folds
    if k == 0:
        return []
    if k == 1:
        return [stratified_split(y, 0.2, seed)]
    if smallest < k:
        log.warning("the smallest class has %d cases: %d folds instead of %d", smallest, max(2, smallest), k)
        k = max(2, smallest)
    assign = stratified_folds(y, k, seed)
    return [assign == f for f in range(k)]
