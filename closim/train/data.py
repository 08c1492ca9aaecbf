"""The training data: digits features and labels, stratified splits and standardization."""

from __future__ import annotations

from typing import Any

import numpy as np

DTYPE = np.float32  # twice as fast as float64 in the block GEMMs (closim.topology.stage)
TEST_FRACTION = 0.2  # held out when folds == 1 (k-fold needs k >= 2)

__all__ = ["DTYPE", "TEST_FRACTION", "load_data", "splits", "standardize"]


def load_data() -> tuple[np.ndarray, np.ndarray]:
    """Digits (1,797 8x8 images, 10 classes): features (float64) and integer labels."""
    # lazy: scikit-learn (and the SciPy it loads) takes ~0.5 s to import; only training needs it
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float64), data.target.astype(np.int64)


def splits(y: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays: stratified k-fold (shuffled with ``seed``), or one stratified
    hold-out of ``TEST_FRACTION`` when ``folds`` is 1."""
    # lazy: scikit-learn is slow to import (see load_data)
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

    dummy = np.zeros(len(y))
    if folds == 1:
        splitter: Any = StratifiedShuffleSplit(
            n_splits=1, test_size=TEST_FRACTION, random_state=seed
        )
    else:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(splitter.split(dummy, y))


def standardize(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled by the training set's mean and standard deviation (constant features: 1)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std == 0] = 1.0
    return ((train - mean) / std).astype(DTYPE), ((test - mean) / std).astype(DTYPE)
