"""Training MLPs whose hidden layers have any closim topology, on scikit-learn's bundled digits
or on MNIST-1D (generated locally; see ``closim.train.data.load_data``).

This is the accuracy side of a claim (ClosNets: "without loss of accuracy"): the cost model says
what a topology costs, this says what it learns. The MLP takes the workload's hidden widths with
the data's own input width and class count, e.g. ``closnet-1024`` (1024-1024-1024-1024) becomes
``64 -> 1024 -> 1024 -> 10`` on digits (8x8 images, 10 classes) and ``40 -> 1024 -> 1024 -> 10``
on MNIST-1D (40-sample signals, 10 classes). Its first and last layers stay
dense unless ``hidden_only=False``; the topology under test replaces the hidden layers, as in
ClosNets. Each layer is closim's own :class:`closim.topology.Layer` (the very math the simulator
lowers), plus a bias kept here; ReLU between layers, none inside a layer (a topology's stages are
linear), softmax cross-entropy on the output.

Accuracy is the mean and standard deviation of the test accuracy over stratified k-fold splits
times seeds. Everything is seeded: the same arguments give bit-identical results.

Defaults and why (measured on this project's 2-core machine, float32, one BLAS thread, batch 32,
one epoch of one model over digits' 1,437 training samples of a 5-fold split): the
64-1024-1024-10 MLP of ``closnet-1024`` takes about 0.16 s per epoch with a dense hidden layer and
0.04 s with a Clos one under SGD (Adam's update adds about 2.3 ms per step for the dense layer's
million weights). ``closim train`` runs 30 epochs x 5 folds x 2 seeds per topology, 600 model
epochs for the two topologies: about a minute, twice that while other processes load the
machine. In 30 epochs SGD at 0.05, momentum at 0.01 and Adam at 1e-3 all reach 97-98% on digits
with either topology; the default optimizer is the workload's own (SGD for ``closnet-1024``), so
that accuracy and the simulated step describe the same training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from closim.model.errors import ConfigError
from closim.model.workload import Workload, topology_kind
from closim.topology import plan_layer
from closim.train.data import DATASETS, load_data, splits, standardize
from closim.train.mlp import Mlp, MlpLayer, Optimizer
from closim.train.paired import PairedDifference, paired_difference

__all__ = [
    "BATCH_SIZE",
    "DATASETS",
    "DEFAULT_LEARNING_RATE",
    "OPTIMIZERS",
    "Mlp",
    "MlpLayer",
    "Optimizer",
    "PairedDifference",
    "TrainResult",
    "describe_spec",
    "load_data",
    "mlp_layers",
    "paired_difference",
    "splits",
    "train_topologies",
]

OPTIMIZERS = ("sgd", "momentum", "adam")
DEFAULT_LEARNING_RATE = {"sgd": 0.05, "momentum": 0.01, "adam": 1e-3}
"""Per optimizer: a rate that trains every bundled workload's MLP on digits without diverging.
On MNIST-1D, SGD at 0.05 trains ``closnet-1024``'s 40-1024-1024-10 MLP without diverging too
(mean training loss 1.99 after one epoch, 1.04 after ten; dense, 2 folds x 1 seed)."""
BATCH_SIZE = 32  # small batches: more updates per epoch on a 1,437-sample training set
BLAS_THREADS = 1
"""BLAS threads while training. The GEMMs here are small (batch 32); with 2 threads and other
processes on the machine, OpenBLAS's spinning threads made a Clos step 130x slower (147 ms against
1.1 ms for the 64-1024-1024-10 MLP, measured on this project's 2-core machine)."""

EpochCallback = Callable[[str, int, int, float], None]


@dataclass
class TrainResult:
    """One topology's training outcome.

    ``params``: stored weights plus biases of the whole MLP; ``accuracy`` and ``accuracy_std``:
    mean and standard deviation (fractions, 0..1) of the test accuracy over ``accuracies``, one per
    (fold, seed); ``seconds_per_epoch``: wall time of one epoch of one model on this machine;
    ``dataset``: the data set trained on (one of ``DATASETS``).

    ``accuracies`` are in the same order for every topology of one ``train_topologies`` call,
    seed-major: index ``seed * folds + fold``. Index i of every topology is the same split
    (the same train and test rows, standardized alike), the same initial weights wherever the
    layers are the same, and the same mini-batch order, so they pair (``paired_difference``).
    """

    topology: str
    params: int
    accuracy: float
    accuracy_std: float
    seconds_per_epoch: float
    accuracies: list[float] = field(default_factory=list)
    dataset: str = "digits"


def describe_spec(spec: object) -> str:
    """A short label of a topology spec: ``dense``, ``clos(r=32, m=32)``."""
    if isinstance(spec, Mapping):
        args = ", ".join(
            f"{k}={describe_spec(v) if isinstance(v, Mapping) else v}"
            for k, v in spec.items()
            if k != "kind"
        )
        kind = topology_kind(spec)
        return f"{kind}({args})" if args else kind
    return str(spec)


def mlp_layers(
    workload: Workload,
    in_features: int,
    classes: int,
    topology: object | None = None,
    *,
    hidden_only: bool = True,
) -> list[MlpLayer]:
    """The MLP of ``workload`` for data of ``in_features`` inputs and ``classes`` classes.

    The workload's widths with its first input and last output replaced by the data's.
    ``topology`` None keeps each layer's topology as written; else it replaces the hidden layers'
    (every layer's with ``hidden_only=False``). With ``hidden_only``, the first and last layers are
    dense either way. Raises ConfigError naming the layer whose widths do not admit its topology.
    """
    specs = workload.layers
    widths = [in_features, *(layer.out_features for layer in specs[:-1]), classes]
    layers = []
    for i, spec in enumerate(specs):
        hidden = 0 < i < len(specs) - 1
        if hidden_only and not hidden:
            chosen: object = "dense"
        else:
            chosen = spec.topology if topology is None else topology
        layers.append(MlpLayer(spec.name, widths[i], widths[i + 1], chosen))
    for layer in layers:
        try:
            plan_layer(layer.topology, layer.in_features, layer.out_features)
        except ConfigError as err:
            raise ConfigError(
                f"layer {layer.name} of the MLP ({layer.in_features} -> {layer.out_features}) "
                f"does not admit this topology: {err}",
                key_path=f"layers.{layer.name}.topology",
            ) from None
    return layers


def _label(layers: Sequence[MlpLayer], hidden_only: bool) -> str:
    """The label of an MLP: its hidden layers' topologies (all layers' without hidden_only)."""
    chosen = layers[1:-1] if hidden_only else layers
    labels = []
    for layer in chosen:
        spec = plan_layer(layer.topology, layer.in_features, layer.out_features).spec
        text = describe_spec(spec)
        if text not in labels:
            labels.append(text)
    return ", ".join(labels) or "dense"


@dataclass
class _Run:
    """One (fold, seed) model with its data."""

    mlp: Mlp
    optimizer: Optimizer
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    rng: np.random.Generator

    def epoch(self, batch_size: int) -> float:
        """One pass over the shuffled training set; the mean mini-batch loss."""
        order = self.rng.permutation(len(self.y_train))
        losses = []
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            loss, grads = self.mlp.loss_and_grads(self.x_train[idx], self.y_train[idx])
            self.optimizer.step(grads)
            losses.append(loss)
        return float(np.mean(losses))

    def accuracy(self) -> float:
        """Fraction of the test set classified right."""
        return float(np.mean(self.mlp.predict(self.x_test) == self.y_test))


def _check_args(
    epochs: int, folds: int, seeds: int, optimizer: str, lr: float, dataset: str
) -> None:
    for name, value in (("epochs", epochs), ("folds", folds), ("seeds", seeds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"must be a positive integer (got {value!r})", key_path=name)
    if optimizer not in OPTIMIZERS:
        raise ConfigError(
            f"expected one of {', '.join(OPTIMIZERS)} (got {optimizer!r})", key_path="optimizer"
        )
    if not (isinstance(lr, int | float) and np.isfinite(lr) and lr > 0):
        raise ConfigError(f"must be a positive number (got {lr!r})", key_path="learning_rate")
    if dataset not in DATASETS:
        raise ConfigError(
            f"unknown data set: expected one of {', '.join(DATASETS)} (got {dataset!r})",
            key_path="dataset",
        )


def train_topologies(
    workload: Workload,
    topologies: list[object] | None = None,
    *,
    epochs: int = 30,
    folds: int = 5,
    seeds: int = 2,
    optimizer: str | None = None,
    learning_rate: float | None = None,
    hidden_only: bool = True,
    on_epoch: EpochCallback | None = None,
    workers: int = 1,
    dataset: str = "digits",
) -> list[TrainResult]:
    """Trains the workload's MLP on ``dataset`` once per topology; one TrainResult each, in order.

    ``topologies``: specs for the hidden layers (``"dense"``, ``{kind: clos, r: 32, m: 32}``);
    None: the workload's own topologies as written, then dense (once if they are the same).
    Every topology trains ``folds x seeds`` models (stratified k-fold, shuffled by seed; weights
    and mini-batch order seeded too) for ``epochs`` epochs of mini-batches of ``BATCH_SIZE``.
    ``optimizer``: sgd, momentum or adam (None: the workload's); ``learning_rate`` None: the
    optimizer's default (``DEFAULT_LEARNING_RATE``). ``on_epoch(topology, epoch, epochs, loss)``
    is called after each epoch with the mean training loss over the models. ``workers`` > 1
    trains the models in that many processes (each with one BLAS thread): the same results, bit
    for bit, since every model is seeded on its own; ``on_epoch`` then reports each topology's
    epochs once its models are done. ``dataset``: one of ``DATASETS`` (``load_data``); the MLP's
    input width and class count are the data's. Every topology trains on the same (seed, fold)
    models in the same order, so ``accuracies`` pair index by index across the results.
    Raises ConfigError for a topology that a layer's widths do not admit, or an unknown dataset.
    """
    optimizer = optimizer or workload.optimizer
    lr = DEFAULT_LEARNING_RATE.get(optimizer, 0.0) if learning_rate is None else learning_rate
    _check_args(epochs, folds, seeds, optimizer, lr, dataset)
    x, y = load_data(dataset)
    classes = int(y.max()) + 1

    if topologies is None:
        candidates: list[object | None] = [None, "dense"]
    else:
        structured = [t for t in topologies if topology_kind(t) != "dense"]
        if hidden_only and len(workload.layers) < 3 and structured:
            raise ConfigError(
                f"the MLP of {workload.name} has no hidden layer (its first and last layers "
                f"stay dense): a topology needs a workload of 3 or more layers "
                f"(got {len(workload.layers)} layers)",
                key_path="layers",
                source=workload.name,
            )
        candidates = list(topologies)
    mlps: list[tuple[str, list[MlpLayer]]] = []
    for i, topology in enumerate(candidates):
        try:
            layers = mlp_layers(workload, x.shape[1], classes, topology, hidden_only=hidden_only)
        except ConfigError as err:
            if topology is None:  # as written: the workload's own layer is at fault
                raise err.located(source=workload.name) from None
            raise ConfigError(err.message, key_path=f"topologies.{i}") from None
        label = _label(layers, hidden_only)
        if topologies is None and any(label == seen for seen, _ in mlps):
            continue  # as written is already dense
        mlps.append((label, layers))

    data = []
    for seed in range(seeds):
        for train_idx, test_idx in splits(y, folds, seed):
            x_train, x_test = standardize(x[train_idx], x[test_idx])
            data.append((seed, x_train, y[train_idx], x_test, y[test_idx]))

    # lazy: only training needs threadpoolctl (it inspects every loaded BLAS on import)
    from threadpoolctl import threadpool_limits

    if workers > 1 and len(mlps) * len(data) > 1:
        results = _train_in_processes(mlps, data, epochs, optimizer, lr, on_epoch, workers)
    else:
        with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
            results = [
                _train(label, layers, data, epochs, optimizer, lr, on_epoch)
                for label, layers in mlps
            ]
    for result in results:
        result.dataset = dataset
    return results


def _train_in_processes(mlps, data, epochs, optimizer, lr, on_epoch, workers) -> list[TrainResult]:
    """``_train`` of every (topology, seed, fold) model spread over ``workers`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    jobs = [(layers, index, item, epochs, optimizer, lr)
            for _, layers in mlps for index, item in enumerate(data)]  # fmt: skip
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        outcomes = list(pool.map(_train_model, *zip(*jobs, strict=True)))
    results = []
    for m, (label, _) in enumerate(mlps):
        mine = outcomes[m * len(data) : (m + 1) * len(data)]
        if on_epoch is not None:
            for epoch in range(1, epochs + 1):
                on_epoch(label, epoch, epochs, float(np.mean([o[0][epoch - 1] for o in mine])))
        accuracies = [o[1] for o in mine]
        results.append(TrainResult(
            topology=label, params=mine[0][3], accuracy=float(np.mean(accuracies)),
            accuracy_std=float(np.std(accuracies)),
            seconds_per_epoch=sum(o[2] for o in mine) / (epochs * len(mine)),
            accuracies=accuracies,
        ))  # fmt: skip
    return results


def _train_model(
    layers, index, item, epochs, optimizer, lr
) -> tuple[list[float], float, float, int]:
    """One model of ``_train`` in a worker process: (loss per epoch, test accuracy, seconds
    training, parameters)."""
    from threadpoolctl import threadpool_limits

    seed, x_train, y_train, x_test, y_test = item
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        mlp = Mlp(layers, seed=seed)
        run = _Run(mlp, Optimizer(mlp.parameters(), optimizer, lr), x_train, y_train, x_test,
                   y_test, np.random.default_rng([seed, index]))  # fmt: skip
        start = time.perf_counter()
        losses = [run.epoch(BATCH_SIZE) for _ in range(epochs)]
        elapsed = time.perf_counter() - start
        return losses, run.accuracy(), elapsed, mlp.num_params


def _train(
    label: str,
    layers: list[MlpLayer],
    data: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]],
    epochs: int,
    optimizer: str,
    lr: float,
    on_epoch: EpochCallback | None,
) -> TrainResult:
    """Trains one model per (seed, fold) of ``data`` in lockstep and summarizes them."""
    runs = []
    for index, (seed, x_train, y_train, x_test, y_test) in enumerate(data):
        mlp = Mlp(layers, seed=seed)
        runs.append(
            _Run(
                mlp, Optimizer(mlp.parameters(), optimizer, lr),
                x_train, y_train, x_test, y_test,
                np.random.default_rng([seed, index]),
            )
        )  # fmt: skip
    elapsed = 0.0
    # every model advances one epoch at a time, so that progress is one line per epoch
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        losses = [run.epoch(BATCH_SIZE) for run in runs]
        elapsed += time.perf_counter() - start
        if on_epoch is not None:
            on_epoch(label, epoch, epochs, float(np.mean(losses)))
    accuracies = [run.accuracy() for run in runs]
    return TrainResult(
        topology=label,
        params=runs[0].mlp.num_params,
        accuracy=float(np.mean(accuracies)),
        accuracy_std=float(np.std(accuracies)),
        seconds_per_epoch=elapsed / (epochs * len(runs)),
        accuracies=accuracies,
    )
