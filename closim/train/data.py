"""The training data (digits or MNIST-1D): features and labels, stratified splits and
standardization."""

from __future__ import annotations

import functools
import random
from typing import Any

import numpy as np

from closim.model.errors import ConfigError

DTYPE = np.float32  # twice as fast as float64 in the block GEMMs (closim.topology.stage)
TEST_FRACTION = 0.2  # held out when folds == 1 (k-fold needs k >= 2)
DATASETS = ("digits", "mnist1d")
"""The data sets ``load_data`` knows; ``digits`` is the default everywhere."""

__all__ = ["DATASETS", "DTYPE", "TEST_FRACTION", "load_data", "splits", "standardize"]


def load_data(dataset: str = "digits") -> tuple[np.ndarray, np.ndarray]:
    """Features (float64, one row per sample) and integer labels (0..9) of ``dataset``.

    ``digits``: scikit-learn's bundled digits, 1,797 8x8 images (64 features), 10 classes.
    ``mnist1d``: MNIST-1D (Greydanus, 2020), 5,000 one-dimensional signals of 40 features, 10
    classes of 500 each, generated here with the package's default arguments
    (``make_dataset(get_dataset_args())``, seed 42) rather than downloaded: no network access. Its
    4,000 training and 1,000 test samples are joined (training rows first), since closim draws its
    own stratified k-fold splits over the whole data set. Generated once per process (about 3.5 s
    on this project's 2-core machine) and copied out of that cache on every call.
    Raises ConfigError for any other name.
    """
    if dataset == "digits":
        # lazy: scikit-learn (and the SciPy it loads) takes ~0.5 s to import; only training needs it
        from sklearn.datasets import load_digits

        data = load_digits()
        return data.data.astype(np.float64), data.target.astype(np.int64)
    if dataset == "mnist1d":
        x, y = _mnist1d()
        return x.copy(), y.copy()
    raise ConfigError(
        f"unknown data set: expected one of {', '.join(DATASETS)} (got {dataset!r})",
        key_path="dataset",
    )


@functools.cache
def _mnist1d() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D's train and test samples joined; see ``load_data``."""
    return make_mnist1d()


def make_mnist1d() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-1D generated afresh (no cache): train then test rows, float64 features, int64 labels.

    ``make_dataset`` seeds NumPy's and Python's global random generators (``set_seed(42)``); their
    states are put back afterwards, so that loading the data does not reseed the caller's.
    """
    # lazy: mnist1d imports SciPy, matplotlib and requests (~1.7 s); only mnist1d training needs it.
    # make_dataset only computes; get_dataset (which may download) is never called.
    from mnist1d.data import get_dataset_args, make_dataset

    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    x = np.concatenate([data["x"], data["x_test"]]).astype(np.float64)
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return x, y


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
