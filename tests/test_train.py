"""closim.train: the MLP's math (gradients vs finite differences), learning, seeding, topologies,
errors, and the train table."""

from __future__ import annotations

import itertools
import json
import math
import random
import socket

import numpy as np
import pytest

from closim.cli import build_parser, main
from closim.model.errors import ConfigError
from closim.model.workload import LayerSpec, Workload
from closim.report.train_table import render_train
from closim.topology import plan_layer
from closim.train import (
    DATASETS,
    Mlp,
    MlpLayer,
    TrainResult,
    describe_spec,
    load_data,
    mlp_layers,
    paired_difference,
    train_topologies,
)
from closim.train.data import make_mnist1d

CLOS8 = {"kind": "clos", "r": 8, "m": 8}


def workload(hidden: object = "dense", width: int = 64, optimizer: str = "adam") -> Workload:
    """A 3-layer MLP (the first and last layers' outer widths are replaced by the data's)."""
    layers = (
        LayerSpec("fc1", 100, width),
        LayerSpec("fc2", width, width, hidden),
        LayerSpec("fc3", width, 100),
    )
    return Workload(name="tiny", batch=8, layers=layers, mode="training", optimizer=optimizer)


def quick(wl: Workload, topologies: list[object] | None = None, **kw: object) -> list[TrainResult]:
    args: dict[str, object] = {"epochs": 4, "folds": 2, "seeds": 1, **kw}
    return train_topologies(wl, topologies, **args)  # type: ignore[arg-type]


def test_gradient_matches_finite_differences() -> None:
    """The whole MLP's gradient (biases, ReLU, softmax cross-entropy, a Clos and a monarch layer)
    equals central finite differences of its loss, for every parameter entry."""
    layers = [
        MlpLayer("a", 6, 8, "dense"),
        MlpLayer("b", 8, 8, {"kind": "clos", "r": 2, "m": 3}),
        MlpLayer("c", 8, 8, {"kind": "monarch", "blocks": 2}),
        MlpLayer("d", 8, 3, "dense"),
    ]
    mlp = Mlp(layers, seed=3, dtype=np.float64)
    rng = np.random.default_rng(0)
    for bias in mlp.biases:  # non-zero biases, so that their gradient is exercised too
        bias[:] = rng.normal(0, 0.1, bias.shape)
    x = rng.normal(size=(5, 6))
    y = np.array([0, 1, 2, 1, 0])
    _, grads = mlp.loss_and_grads(x, y)
    params = mlp.parameters()
    assert [g.shape for g in grads] == [p.shape for p in params]
    eps = 1e-6
    for p, g in zip(params, grads, strict=True):
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            plus, _ = mlp.loss_and_grads(x, y)
            p[idx] = old - eps
            minus, _ = mlp.loss_and_grads(x, y)
            p[idx] = old
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(g, numeric, rtol=1e-5, atol=1e-8)


def test_loss_decreases_and_accuracy_well_above_chance() -> None:
    losses: list[float] = []
    results = quick(
        workload(), ["dense"], epochs=6, on_epoch=lambda t, e, n, loss: losses.append(loss)
    )
    assert len(losses) == 6
    assert losses[-1] < 0.5 * losses[0]
    assert sum(b < a for a, b in itertools.pairwise(losses)) >= 4
    (result,) = results
    assert result.accuracy > 0.8  # chance is 0.1 on 10 classes
    assert len(result.accuracies) == 2  # folds x seeds
    assert result.accuracy == pytest.approx(np.mean(result.accuracies))
    assert result.accuracy_std == pytest.approx(np.std(result.accuracies))


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam"])
def test_every_optimizer_learns(optimizer: str) -> None:
    (result,) = quick(workload(), ["dense"], epochs=5, optimizer=optimizer)
    assert result.accuracy > 0.8


def test_same_seed_gives_bit_identical_results() -> None:
    first = quick(workload(), [CLOS8, "dense"], epochs=2)
    second = quick(workload(), [CLOS8, "dense"], epochs=2)
    for a, b in zip(first, second, strict=True):
        assert a.accuracies == b.accuracies
        assert (a.topology, a.params, a.accuracy, a.accuracy_std) == (
            b.topology,
            b.params,
            b.accuracy,
            b.accuracy_std,
        )
    # and the weights themselves: two models of one seed are equal after training steps
    layers = mlp_layers(workload(), 64, 10, CLOS8)
    x = np.random.default_rng(1).normal(size=(16, 64)).astype(np.float32)
    y = np.arange(16) % 10
    a, b = Mlp(layers, seed=7), Mlp(layers, seed=7)
    for mlp in (a, b):
        for _ in range(3):
            _, grads = mlp.loss_and_grads(x, y)
            for p, g in zip(mlp.parameters(), grads, strict=True):
                p -= 0.1 * g
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert np.array_equal(pa, pb)
    assert not np.array_equal(Mlp(layers, seed=8).parameters()[0], a.parameters()[0])


def test_training_in_processes_gives_the_same_results_and_progress() -> None:
    # two worker processes train the same seeded models: every accuracy and loss bit-identical
    seen: dict[int, list[tuple[str, int, float]]] = {1: [], 2: []}
    results = {}
    for workers in (1, 2):
        results[workers] = quick(
            workload(), [CLOS8, "dense"], epochs=2, workers=workers,
            on_epoch=lambda t, e, n, loss, w=workers: seen[w].append((t, e, loss)),
        )  # fmt: skip
    for a, b in zip(results[1], results[2], strict=True):
        assert (a.topology, a.params, a.accuracies) == (b.topology, b.params, b.accuracies)
    assert seen[1] == seen[2] and len(seen[1]) == 4  # 2 topologies x 2 epochs


def test_clos_and_dense_reach_comparable_accuracy() -> None:
    clos, dense = quick(workload(), [CLOS8, "dense"], epochs=8, folds=3)
    assert clos.accuracy > 0.9 and dense.accuracy > 0.9
    assert abs(clos.accuracy - dense.accuracy) < 0.03
    # the Clos hidden layer stores 3 * 8**3 = 1,536 weights instead of 4,096
    biases = 64 + 64 + 10
    assert dense.params == 64 * 64 * 3 - 64 * 64 + 64 * 10 + biases
    assert clos.params == 64 * 64 + 3 * 8**3 + 64 * 10 + biases


def test_mlp_takes_the_workloads_hidden_widths_and_the_datas_ends() -> None:
    layers = mlp_layers(workload(CLOS8, width=64), 64, 10)
    assert [(x.in_features, x.out_features) for x in layers] == [(64, 64), (64, 64), (64, 10)]
    assert [x.topology for x in layers] == ["dense", CLOS8, "dense"]
    block = {"kind": "block_diagonal", "blocks": 2}
    every = mlp_layers(workload(width=64), 64, 10, block, hidden_only=False)
    assert [x.topology for x in every] == [block, block, block]


def test_default_topologies_are_as_written_then_dense() -> None:
    results = quick(workload(CLOS8), epochs=1)
    assert [r.topology for r in results] == ["clos(r=8, m=8)", "dense"]
    only = quick(workload("dense"), epochs=1)
    assert [r.topology for r in only] == ["dense"]


def test_a_hidden_layer_that_does_not_admit_the_spec_is_named() -> None:
    with pytest.raises(ConfigError) as err:
        quick(workload(width=64), [{"kind": "clos", "r": 5}], epochs=1)
    text = str(err.value)
    assert "fc2" in text and "64 -> 64" in text and "r=5" in text
    assert err.value.key_path == "topologies.0"
    with pytest.raises(ConfigError) as err:  # as written: the workload's layer is named
        quick(workload({"kind": "clos", "r": 5}, width=64), epochs=1)
    assert (err.value.source, err.value.key_path) == ("tiny", "layers.fc2.topology")


def test_hidden_only_false_applies_to_first_and_last_layers() -> None:
    # clos r=8 fits 64 -> 64 but not 64 -> 10 (r must divide 10)
    with pytest.raises(ConfigError, match="fc3"):
        quick(workload(width=64), [CLOS8], epochs=1, hidden_only=False)
    block = {"kind": "block_diagonal", "blocks": 2}
    (result,) = quick(workload(width=64), [block], epochs=1, hidden_only=False)
    assert result.params == sum(
        plan_layer(block, i, o).num_params + o for i, o in ((64, 64), (64, 64), (64, 10))
    )


def test_a_workload_without_hidden_layers_rejects_a_topology() -> None:
    two = Workload(name="two", batch=8, layers=(LayerSpec("a", 8, 32), LayerSpec("b", 32, 4)))
    with pytest.raises(ConfigError, match="no hidden layer"):
        quick(two, [CLOS8], epochs=1)
    (result,) = quick(two, epochs=1)
    assert result.topology == "dense"


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"epochs": 0}, "epochs"),
        ({"folds": -1}, "folds"),
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_bad_arguments_are_config_errors(kwargs: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        quick(workload(), ["dense"], **kwargs)
    assert err.value.key_path == key


def test_one_fold_holds_out_a_stratified_fifth() -> None:
    (result,) = quick(workload(), ["dense"], epochs=3, folds=1, seeds=2)
    assert len(result.accuracies) == 2 and result.accuracy > 0.8


def test_describe_spec() -> None:
    assert describe_spec("dense") == "dense"
    assert describe_spec({"kind": "clos", "r": 32, "m": 32}) == "clos(r=32, m=32)"
    nested = {"kind": "unstructured", "like": {"kind": "clos", "r": 2}, "seed": 0}
    assert describe_spec(nested) == "unstructured(like=clos(r=2), seed=0)"


def test_render_train() -> None:
    results = [
        TrainResult("clos(r=8, m=8)", 9000, 0.975, 0.004, 0.01, [0.971, 0.979]),
        TrainResult("dense", 12000, 0.97, 0.01, 0.02, [0.96, 0.98]),
    ]
    data = json.loads(render_train(results, "json"))
    assert data == {
        "dataset": "digits",
        "results": [
            {"topology": "clos(r=8, m=8)", "params": 9000, "accuracy": 0.975,
             "accuracy_std": 0.004, "seconds_per_epoch": 0.01, "accuracies": [0.971, 0.979]},
            {"topology": "dense", "params": 12000, "accuracy": 0.97, "accuracy_std": 0.01,
             "seconds_per_epoch": 0.02, "accuracies": [0.96, 0.98]},
        ]
    }  # fmt: skip
    table = render_train(results, "table")
    assert "97.50 ± 0.40" in table and "9,000" in table and "1.33x" in table
    assert "test accuracy on digits" in table
    results[0].dataset = results[1].dataset = "mnist1d"
    assert "test accuracy on mnist1d" in render_train(results, "table")
    assert json.loads(render_train(results, "json"))["dataset"] == "mnist1d"
    with pytest.raises(ValueError):
        render_train(results, "csv")


# --- data sets ------------------------------------------------------------------------------


def test_mnist1d_is_generated_offline_deterministically_and_leaves_global_rngs_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access while loading MNIST-1D")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    with pytest.raises(AssertionError, match="network"):  # the guard bites
        socket.create_connection(("127.0.0.1", 9))
    np.random.seed(123)
    random.seed(123)
    x, y = make_mnist1d()  # generated afresh (no cache), with every socket refused
    np_draw, py_draw = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    assert (np_draw, py_draw) == (np.random.random(), random.random())  # not reseeded to 42
    assert x.shape == (5000, 40) and x.dtype == np.float64 and np.all(np.isfinite(x))
    assert y.shape == (5000,) and y.dtype == np.int64
    assert np.array_equal(np.bincount(y), [500] * 10)  # 10 classes, 500 each
    # a second generation (load_data's cache, filled now if no other test did) is identical
    x2, y2 = load_data("mnist1d")
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    x2[:] = 0  # a copy: the cache is not changed through it
    assert np.array_equal(load_data("mnist1d")[0], x)


def test_load_data_defaults_to_digits_and_rejects_unknown_names() -> None:
    x, y = load_data()
    assert x.shape == (1797, 64) and set(np.unique(y)) == set(range(10))
    assert np.array_equal(load_data("digits")[0], x)
    assert DATASETS == ("digits", "mnist1d")
    with pytest.raises(ConfigError) as err:
        load_data("cifar")
    assert str(err.value).endswith("(got 'cifar')")
    assert "digits" in str(err.value) and "mnist1d" in str(err.value)
    with pytest.raises(ConfigError) as err:  # checked before any data is loaded
        quick(workload(), ["dense"], dataset="mnist-1d")
    assert err.value.key_path == "dataset" and str(err.value).endswith("(got 'mnist-1d')")


def test_cli_trains_on_mnist1d_with_its_40_inputs(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--dataset", "mnist1d", "--epochs", "1", "--folds", "2", "--seeds", "1",
            "--workload", "workloads/closnet-1024.yaml", "--format", "json",
            "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["dataset"] == "mnist1d"
    (result,) = data["results"]  # as written is dense: trained once
    assert result["topology"] == "dense"
    # 40 -> 1024 -> 1024 -> 10: MNIST-1D's 40 features in, its 10 classes out, with biases
    assert result["params"] == (40 + 1) * 1024 + (1024 + 1) * 1024 + (1024 + 1) * 10
    assert len(result["accuracies"]) == 2
    assert all(0.0 <= a <= 1.0 for a in result["accuracies"])
    assert result["accuracy"] == pytest.approx(np.mean(result["accuracies"]))
    assert result["accuracy"] > 0.15  # one epoch is already above chance (0.1)


def test_cli_rejects_an_unknown_dataset_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--workload", "workloads/closnet-1024.yaml", "--dataset", "cifar"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "cifar" in err and "mnist1d" in err
    # the parser's choices, written out to keep closim.train off the CLI's import path
    args = build_parser().parse_args(["train", "--workload", "w"])
    assert args.dataset == "digits" and not args.all_sparse
    train = next(
        a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
        if a.dest == "dataset"
    )  # fmt: skip
    assert tuple(train.choices) == DATASETS


def test_cli_all_sparse_makes_every_layer_the_topology(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["train", "--workload", "workloads/lenet-300-100.yaml", "--epochs", "1", "--folds",
            "2", "--seeds", "1", "--topology", "{kind: block_diagonal, blocks: 2}",
            "--all-sparse", "--format", "json", "--workers", "1"]  # fmt: skip
    assert main(argv) == 0
    (result,) = json.loads(capsys.readouterr().out)["results"]
    # digits: 64 -> 300 -> 100 -> 10, every layer 2 diagonal blocks (dense ends: 35,610)
    assert result["params"] == 64 * 300 // 2 + 300 * 100 // 2 + 100 * 10 // 2 + 300 + 100 + 10


# --- paired differences ---------------------------------------------------------------------


def test_paired_difference_matches_scipys_paired_t_interval() -> None:
    from scipy import stats

    rng = np.random.default_rng(5)
    b = rng.uniform(0.6, 0.9, 10)
    a = b + rng.normal(0.01, 0.02, 10)
    for confidence in (0.9, 0.95, 0.99):
        got = paired_difference(list(a), list(b), confidence)
        ci = stats.ttest_rel(a, b).confidence_interval(confidence_level=confidence)
        assert got.n == 10 and got.confidence == confidence
        assert got.mean_points == pytest.approx(100 * np.mean(a - b), rel=1e-12)
        assert got.low_points == pytest.approx(100 * ci.low, rel=1e-9)
        assert got.high_points == pytest.approx(100 * ci.high, rel=1e-9)


def test_paired_difference_closed_form_and_edge_cases() -> None:
    # differences 10, 0, -10 points: mean 0, sd 10, t(0.975, 2 df) = 4.302653 (t tables)
    got = paired_difference([0.9, 0.8, 0.7], [0.8, 0.8, 0.8])
    half = 4.302653 * 10 / math.sqrt(3)
    assert got.mean_points == pytest.approx(0.0, abs=1e-12)
    assert (got.low_points, got.high_points) == pytest.approx((-half, half), rel=1e-6)
    same = paired_difference([0.5, 0.75, 1.0], [0.25, 0.5, 0.75])  # every difference 25 points
    assert (same.mean_points, same.low_points, same.high_points) == (25.0, 25.0, 25.0)
    with pytest.raises(ValueError, match="at least 2"):
        paired_difference([0.9], [0.8])
    with pytest.raises(ValueError, match="same length"):
        paired_difference([0.9, 0.8], [0.8, 0.7, 0.6])
    with pytest.raises(ValueError, match="confidence"):
        paired_difference([0.9, 0.8], [0.8, 0.7], confidence=95)


def test_accuracies_pair_by_index_across_topologies() -> None:
    """Index i is the same (seed, fold) model for every topology: a topology listed twice gets
    the same accuracies index by index, whatever else trains beside it, and the order is
    seed-major (seed 0's folds first)."""
    both = quick(workload(), ["dense", CLOS8, {"kind": "dense"}], epochs=2, seeds=2)
    assert len(both[0].accuracies) == 4
    assert both[0].accuracies == both[2].accuracies
    assert len(set(both[0].accuracies)) > 1  # different runs differ: a shuffle would show
    (alone,) = quick(workload(), [{"kind": "dense"}], epochs=2, seeds=1)
    assert alone.accuracies == both[0].accuracies[:2]
