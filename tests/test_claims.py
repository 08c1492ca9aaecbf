"""closim.claims: PASS/FAIL logic against values computed independently of the simulator, file
validation with key paths, the results-store cache, training claims, and the claims table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import closim.api
import closim.sweep.execute
from closim import load_hw, load_workload, simulate
from closim.claims import SIM_METRICS, ClaimResult, evaluate_claims, load_claims
from closim.claims.table import render_claims
from closim.model.errors import ConfigError
from closim.report.results import flatten, result_dict
from closim.topology import plan_layer
from closim.train import train_topologies

ROOT = Path(__file__).resolve().parents[1]
CLOS = {"kind": "clos", "r": 16, "m": 16}
DENSE_WL = """\
batch: 4
mode: inference
layers:
  a: {in_features: 256, out_features: 256, topology: dense}
  b: {in_features: 256, out_features: 256, topology: dense}
"""
CLOS_WL = """\
extends: wl-dense.yaml
layers:
  a: {topology: {kind: clos, r: 16, m: 16}}
  b: {topology: {kind: clos, r: 16, m: 16}}
"""
TRAIN_WL = """\
batch: 8
mode: training
optimizer: adam
layers:
  a: {in_features: 100, out_features: 64, topology: dense}
  b: {in_features: 64, out_features: 64, topology: dense}
  c: {in_features: 64, out_features: 100, topology: dense}
"""


def weight_bytes(spec: object, hw: str) -> int:
    """Weight bytes of the two 256 x 256 layers, from the plan and the hw's width alone."""
    width = load_hw(hw).widths.weights_bytes
    return 2 * plan_layer(spec, 256, 256).num_params * width


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "wl-dense.yaml").write_text(DENSE_WL)
    (tmp_path / "wl-clos.yaml").write_text(CLOS_WL)
    (tmp_path / "wl-train.yaml").write_text(TRAIN_WL)
    return tmp_path


RUNS = {
    "clos": {"hw": "scalesim-32x32", "workload": "wl-clos.yaml"},
    "dense": {"hw": "scalesim-32x32", "workload": "wl-dense.yaml"},
}


def write_claims(folder: Path, claims: list[dict[str, Any]], name: str = "c.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"claims": claims}, sort_keys=False))
    return path


def claim(id: str, **fields: Any) -> dict[str, Any]:
    return {"id": id, "text": f"claim {id}", "source": "test", "runs": RUNS, **fields}


def training_run(epochs: int, seeds: int = 1) -> dict[str, Any]:
    """A training run of a Clos (r = m = 8) and a dense MLP on wl-train.yaml, 2 folds."""
    topologies = {"clos": {"kind": "clos", "r": 8, "m": 8}, "dense": "dense"}
    return {"workload": "wl-train.yaml", "topologies": topologies, "epochs": epochs, "folds": 2,
            "seeds": seeds}  # fmt: skip


def run(folder: Path, claims: list[dict[str, Any]], **kw: Any) -> list[ClaimResult]:
    return evaluate_claims(load_claims(write_claims(folder, claims)), **kw)


def test_ratio_and_value_verdicts_follow_independent_truth(folder: Path) -> None:
    clos, dense = weight_bytes(CLOS, "scalesim-32x32"), weight_bytes("dense", "scalesim-32x32")
    truth = clos / dense  # 0.1875
    ratio = {"metric": "weight_bytes", "ratio": ["clos", "dense"]}
    results = run(
        folder,
        [
            claim("r-at-most-pass", **ratio, at_most=truth * 1.001),
            claim("r-at-most-fail", **ratio, at_most=truth * 0.999),
            claim("r-at-least-pass", **ratio, at_least=truth * 0.999),
            claim("r-at-least-fail", **ratio, at_least=truth * 1.001),
            claim("r-between-pass", **ratio, between=[truth * 0.99, truth * 1.01]),
            claim("r-between-fail", **ratio, between=[truth * 1.01, 1.0]),
            claim("r-below-fail-at-equality", **ratio, below=truth),
            claim("r-above-pass", **ratio, above=truth * 0.999),
            claim("v-pass", metric="weight_bytes", value="dense", between=[dense, dense]),
            claim("v-fail", metric="weight_bytes", value="clos", at_least=clos + 1),
            claim(
                "d-within-pass",
                metric="weight_bytes",
                difference=["clos", "dense"],
                within=dense - clos,
            ),
            claim(
                "d-within-fail",
                metric="weight_bytes",
                difference=["clos", "dense"],
                within=dense - clos - 1,
            ),
            claim("amdahl-pass", **ratio, amdahl_fraction=0.5, at_least=0.999 / (0.5 + truth / 2)),
            claim("amdahl-fail", **ratio, amdahl_fraction=0.5, at_least=1.001 / (0.5 + truth / 2)),
        ],
    )
    for r in results:
        assert r.verdict == ("PASS" if "pass" in r.id else "FAIL"), (r.id, r.measured, r.detail)
    by_id = {r.id: r for r in results}
    assert by_id["r-at-most-pass"].measured == pytest.approx(truth)
    assert by_id["d-within-pass"].measured == pytest.approx(clos - dense)
    assert by_id["amdahl-pass"].measured == pytest.approx(1 / (0.5 + truth / 2))
    assert f"clos {clos:,}" in by_id["r-at-most-pass"].detail
    assert by_id["r-at-most-pass"].expected == "weight_bytes clos/dense <= 0.1877"


def test_checks_must_all_hold(folder: Path) -> None:
    clos = weight_bytes(CLOS, "scalesim-32x32")
    ok = {"metric": "weight_bytes", "value": "clos", "at_most": clos}
    bad = {"metric": "index_bytes", "value": "clos", "at_least": 1}
    results = run(folder, [claim("both", checks=[ok, bad]), claim("one", checks=[ok, ok])])
    assert [r.verdict for r in results] == ["FAIL", "PASS"]
    assert results[0].measured == clos  # the first check's measurement
    assert "fails: index_bytes clos >= 1" in results[0].detail


def test_across_counts_accelerators(folder: Path) -> None:
    """weight_bytes of the Clos MLP is 1 byte per weight on edge-npu and 2 on tpu-v4: a bound
    between the two holds on exactly one of them."""
    hws = ["edge-npu", "tpu-v4"]
    one, two = (weight_bytes(CLOS, hw) for hw in hws)
    assert two == 2 * one
    runs = {"clos": {"workload": "wl-clos.yaml"}}
    check = {"metric": "weight_bytes", "at_most": (one + two) / 2}
    results = run(
        folder,
        [
            claim("one-of-two", runs=runs, across={"hw": hws, "at_least": 1}, **check),
            claim("all", runs=runs, across={"hw": hws}, **check),
        ],
    )
    assert [r.verdict for r in results] == ["PASS", "FAIL"]
    assert [r.measured for r in results] == [1.0, 1.0]
    assert "edge-npu: weight_bytes" in results[0].detail and "tpu-v4" in results[0].detail
    assert results[1].expected.endswith("on >= 2 of 2 hw")


def test_controls_decide_whether_a_passing_check_discriminates(folder: Path) -> None:
    clos, dense = weight_bytes(CLOS, "scalesim-32x32"), weight_bytes("dense", "scalesim-32x32")
    thin = {"kind": "clos", "r": 16, "m": 8}  # half the middle: fewer weights still
    thin_bytes = weight_bytes(thin, "scalesim-32x32")
    assert thin_bytes < clos < 0.2 * dense < dense  # the independent truth of each verdict
    ratio = {"metric": "weight_bytes", "ratio": ["clos", "dense"], "at_most": 0.2}
    as_dense = {"id": "dense-as-clos", "why": "no sparsity", "runs": {"clos": {
        "workload": "wl-dense.yaml"}}}  # fmt: skip
    thinner = {"id": "thinner", "why": "a smaller Clos passes too", "runs": {"clos": {
        "set": [f"workload.layers.{n}.topology={thin}" for n in "ab"]}}}  # fmt: skip
    results = run(
        folder,
        [
            claim("discriminates", **ratio, controls=[as_dense]),
            claim("inconclusive", **ratio, controls=[as_dense, thinner]),
            claim("no-controls", **ratio),
            claim("fails", metric="weight_bytes", ratio=["clos", "dense"], at_most=0.1,
                  controls=[as_dense]),
        ],
    )  # fmt: skip
    by_id = {r.id: r for r in results}
    good = by_id["discriminates"]
    assert (good.verdict, good.discriminates) == ("PASS", True)
    assert good.measured == pytest.approx(clos / dense)
    ((control,),) = [good.controls]
    assert (control.id, control.verdict, control.measured) == ("dense-as-clos", "FAIL", 1.0)
    weak = by_id["inconclusive"]
    assert (weak.verdict, weak.discriminates) == ("INCONCLUSIVE", False)
    assert [c.verdict for c in weak.controls] == ["FAIL", "PASS"]
    assert weak.controls[1].measured == pytest.approx(thin_bytes / dense)
    assert "control thinner" in weak.detail
    assert (by_id["no-controls"].verdict, by_id["no-controls"].discriminates) == ("PASS", None)
    assert by_id["fails"].verdict == "FAIL"  # a failing claim stays FAIL whatever its controls
    # both engines judged every run (weight bytes do not depend on the engine)
    assert good.engines == {"des": "PASS", "analytic": "PASS"}


def test_speedup_efficiency_is_the_speedup_over_the_compression(folder: Path) -> None:
    hw = load_hw("scalesim-32x32")
    totals = {
        name: simulate(hw, load_workload(folder / f"wl-{name}.yaml"), engine="des").totals
        for name in ("clos", "dense")
    }
    speedup = totals["dense"].cycles / totals["clos"].cycles
    compression = totals["dense"].macs / totals["clos"].macs
    truth = speedup / compression
    assert 0 < truth < 1  # small blocks give back part of the ideal speedup here
    check = {"metric": "cycles", "ratio": ["clos", "dense"], "ideal": "macs"}
    kept, short = run(
        folder,
        [claim("kept", **check, at_least=truth * 0.999),
         claim("short", **check, at_least=truth * 1.001)],
    )  # fmt: skip
    assert (kept.verdict, short.verdict) == ("PASS", "FAIL")
    assert kept.measured == pytest.approx(truth)
    assert kept.expected.startswith("speedup efficiency of clos over dense")
    err = bad(folder, [claim("x", metric="cycles", value="clos", ideal="macs", at_least=1)])
    assert err.key_path == "claims.0.ideal"


def test_engines_that_disagree_on_the_side_of_a_threshold_leave_the_claim_undecided(
    folder: Path,
) -> None:
    hw = load_hw("scalesim-32x32")
    ratios = {}
    for engine in ("des", "analytic"):
        cycles = [
            simulate(hw, load_workload(folder / f"wl-{name}.yaml"), engine=engine,
                     mode="training").totals.cycles
            for name in ("clos", "dense")
        ]  # fmt: skip
        ratios[engine] = cycles[0] / cycles[1]
    assert ratios["des"] != ratios["analytic"]  # the case needs engines that differ
    middle = (ratios["des"] + ratios["analytic"]) / 2
    runs = {name: {**r, "mode": "training"} for name, r in RUNS.items()}
    cycles = {"metric": "cycles", "ratio": ["clos", "dense"]}
    above = max(ratios.values()) * 1.01
    results = run(
        folder,
        [
            claim("split", runs=runs, **cycles, at_most=middle),
            claim("agree", runs=runs, **cycles, at_most=above),
        ],
    )
    split, agree = results
    assert split.verdict == "UNDECIDED"
    low = min(ratios, key=ratios.get)
    assert split.engines == {e: "PASS" if e == low else "FAIL" for e in ratios}
    assert split.measured == pytest.approx(ratios["des"])  # the runs' own engine reports
    assert "engines disagree" in split.detail
    assert (agree.verdict, agree.engines) == ("PASS", {"des": "PASS", "analytic": "PASS"})
    mixed_runs = {**runs, "clos": {**runs["clos"], "engine": "analytic"}}
    (mixed,) = run(folder, [claim("mixed", runs=mixed_runs, **cycles, at_most=above)])
    # clos on analytic / dense on des, then each on the other engine
    mixed_ratio = {
        e: simulate(
            hw, load_workload(folder / "wl-clos.yaml"), engine=e, mode="training"
        ).totals.cycles
        / simulate(
            hw, load_workload(folder / "wl-dense.yaml"), engine=d, mode="training"
        ).totals.cycles
        for e, d in (("analytic", "des"), ("des", "analytic"))
    }
    assert mixed.engines == {"as written": "PASS", "engines swapped": "PASS"}
    assert mixed.measured == pytest.approx(mixed_ratio["analytic"])


def test_a_training_control_replaces_topologies(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import closim.train

    trained: list[object] = []
    real = closim.train.train_topologies

    def counting(workload: Any, specs: list[object], **kw: Any) -> Any:
        trained.extend(specs)
        return real(workload, specs, **kw)

    monkeypatch.setattr(closim.train, "train_topologies", counting)
    training = training_run(epochs=2)
    disconnected = {"kind": "block_diagonal", "blocks": 8}
    control = {"id": "disconnected", "why": "no mixing", "topologies": {"clos": disconnected}}
    (result,) = run(
        folder,
        [{"id": "acc", "text": "t", "source": "s", "training": training, "metric": "accuracy",
          "difference": ["clos", "dense"], "within": 100, "controls": [control]}],
    )  # fmt: skip
    block, dense = train_topologies(
        load_workload(folder / "wl-train.yaml"), [disconnected, "dense"], epochs=2, folds=2,
        seeds=1,
    )  # fmt: skip
    # within 100 points always holds: the control holds too, so the check cannot discriminate
    assert result.verdict == "INCONCLUSIVE" and result.engines == {}
    # the control trains only what it replaces: dense is trained once, for the claim
    assert trained == [{"kind": "clos", "r": 8, "m": 8}, "dense", disconnected]
    assert result.controls[0].measured == pytest.approx(100 * (block.accuracy - dense.accuracy))


def test_layer_metrics_and_nested_keys(folder: Path) -> None:
    per_layer = weight_bytes(CLOS, "scalesim-32x32") // 2
    results = run(
        folder,
        [
            claim("layer", metric="layers.a.weight_bytes", value="clos", between=[per_layer] * 2),
            claim("nested", metric="traffic_bytes.dram.indices", value="clos", at_most=0),
            claim("no-layer", metric="layers.zz.weight_bytes", value="clos", at_least=0),
        ],
    )
    assert [r.verdict for r in results] == ["PASS", "PASS", "FAIL"]
    assert "no layer 'zz'" in results[2].detail


def count_simulations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = closim.api.simulate

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(closim.api, "simulate", counting)
    monkeypatch.setattr(closim.sweep.execute, "simulate", counting)
    return calls


def test_second_evaluation_simulates_nothing(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_simulations(monkeypatch)
    claims = [
        claim("size", metric="weight_bytes", ratio=["clos", "dense"], at_most=0.2),
        # the same runs again: simulated once per evaluation
        claim("cycles", metric="cycles", ratio=["clos", "dense"], at_most=10),
    ]
    path = write_claims(folder, claims)
    first = evaluate_claims(load_claims(path))
    assert calls[0] == 4  # two runs, each on both engines
    assert (folder / "c.sqlite").is_file()  # default: next to the claims file
    second = evaluate_claims(load_claims(path))
    assert calls[0] == 4
    assert first == second
    elsewhere = evaluate_claims(load_claims(path), db=folder / "other.sqlite")
    assert calls[0] == 8 and elsewhere == first
    # a sweep's store can be read back: the claims' runs are ordinary points
    from closim.sweep import load_results

    frame = load_results(folder / "c.sqlite")
    assert sorted(frame["run"]) == ["clos", "clos", "dense", "dense"]
    assert set(frame["status"]) == {"ok"}


def test_a_changed_config_is_simulated_again(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_simulations(monkeypatch)
    base = claim("size", metric="weight_bytes", ratio=["clos", "dense"], at_most=0.2)
    run(folder, [base])
    assert calls[0] == 4  # two runs, each on both engines
    runs = {**RUNS, "dense": {**RUNS["dense"], "set": ["workload.batch=8"]}}
    run(folder, [{**base, "runs": runs}])
    assert calls[0] == 6


def test_a_failed_run_is_a_fail_with_its_reason(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(closim.sweep.execute, "simulate", broken)
    (result,) = run(folder, [claim("x", metric="cycles", ratio=["clos", "dense"], at_most=1)])
    assert (result.verdict, result.measured) == ("FAIL", None)
    assert "boom" in result.detail


def test_training_claim_matches_training_directly(folder: Path) -> None:
    training = training_run(epochs=3)
    base = {"id": "acc", "text": "t", "source": "s", "training": training}
    results = run(
        folder,
        [
            {**base, "id": "diff", "metric": "accuracy", "difference": ["clos", "dense"],
             "within": 50},
            {**base, "id": "spread", "metric": "accuracy", "difference": ["clos", "dense"],
             "within_spread": True},
            {**base, "id": "floor", "metric": "accuracy", "value": "dense", "at_least": 101},
        ],
    )  # fmt: skip
    clos, dense = train_topologies(
        load_workload(folder / "wl-train.yaml"),
        [{"kind": "clos", "r": 8, "m": 8}, "dense"],
        epochs=3,
        folds=2,
        seeds=1,
    )
    diff = 100 * (clos.accuracy - dense.accuracy)
    spread = 100 * min(clos.accuracy_std, dense.accuracy_std)
    assert results[0].measured == pytest.approx(diff)
    assert results[0].verdict == "PASS"
    assert results[1].verdict == ("PASS" if abs(diff) <= spread else "FAIL")
    assert results[2].verdict == "FAIL"  # accuracy is in percent, never above 100
    assert results[2].measured == pytest.approx(100 * dense.accuracy)


def test_a_paired_interval_must_lie_within_the_bound(folder: Path) -> None:
    from closim.claims.loader import DATASET_SHAPES
    from closim.train.data import load_data
    from closim.train.paired import paired_difference

    for name, (features, classes) in DATASET_SHAPES.items():
        x, y = load_data(name)
        assert (x.shape[1], len(set(y.tolist()))) == (features, classes)
    clos_spec = {"kind": "clos", "r": 8, "m": 8}
    training = training_run(epochs=2, seeds=2)
    clos, dense = train_topologies(
        load_workload(folder / "wl-train.yaml"), [clos_spec, "dense"], epochs=2, folds=2, seeds=2
    )
    # the interval of the per-(fold, seed) differences, computed here with SciPy directly
    from scipy import stats

    diffs = [100 * (a - b) for a, b in zip(clos.accuracies, dense.accuracies, strict=True)]
    low, high = stats.ttest_rel(
        [100 * a for a in clos.accuracies], [100 * b for b in dense.accuracies]
    ).confidence_interval(0.95)
    edge = float(max(abs(low), abs(high)))
    assert paired_difference(clos.accuracies, dense.accuracies).low_points == pytest.approx(low)
    base = {"text": "t", "source": "s", "training": training, "metric": "accuracy",
            "difference": ["clos", "dense"], "confidence": 0.95}  # fmt: skip
    inside, outside = run(
        folder,
        [{**base, "id": "inside", "within": edge * 1.001},
         {**base, "id": "outside", "within": edge * 0.999}],
    )  # fmt: skip
    assert (inside.verdict, outside.verdict) == ("PASS", "FAIL")
    assert inside.measured == pytest.approx(sum(diffs) / len(diffs))
    assert f"[{low:+.2f}, {high:+.2f}] (paired t, n=4)" in inside.detail
    assert "95% interval" in inside.expected


def bad(folder: Path, claims: list[dict[str, Any]]) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load_claims(write_claims(folder, claims))
    assert err.value.source == "c.yaml" or err.value.source.endswith("c.yaml")
    return err.value


@pytest.mark.parametrize(
    ("fields", "key", "words"),
    [
        ({"metrc": "cycles"}, "claims.0.metrc", "did you mean 'metric'"),
        ({"metric": "cycels", "ratio": ["clos", "dense"], "at_most": 1}, "claims.0.metric",
         "did you mean 'cycles'"),
        ({"metric": "cycles", "ratio": ["clos", "dens"], "at_most": 1}, "claims.0.ratio.1",
         "did you mean 'dense'"),
        ({"metric": "cycles", "ratio": ["clos", "dense"]}, "claims.0.at_most",
         "expectation is missing"),
        ({"metric": "cycles", "at_most": 1}, "claims.0.value", "say what to measure"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "between": [2, 1]}, "claims.0.between",
         "low <= high"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": "x"}, "claims.0.at_most",
         "expected a number"),
        ({"metric": "cycles", "difference": ["clos", "dense"], "within_spread": True},
         "claims.0.within_spread", "needs training"),
        ({"metric": "cycles", "value": "clos", "amdahl_fraction": 0.5, "at_most": 1},
         "claims.0.amdahl_fraction", "needs ratio"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "checks": [{"metric": "cycles", "value": "clos", "at_most": 1}]}, "claims.0.metric",
         "not both"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "across": {"hw": ["tpu-v4"], "at_least": 2}}, "claims.0.across.at_least",
         "at most the 1"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "runs": {"clos": {"hw": "tpu-v4", "workload": "wl-clos.yaml", "engine": "dse"}}},
         "claims.0.runs.clos.engine", "did you mean 'des'"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "controls": [{"id": "x", "why": "w", "runs": {"clso": {"mode": "training"}}}]},
         "claims.0.controls.0.runs.clso", "did you mean 'clos'"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "controls": [{"id": "x", "why": "w"}]}, "claims.0.controls.0.runs", "exactly one"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "within": 1, "confidence": 0.95},
         "claims.0.confidence", "needs training"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "controls": [{"id": "x", "why": "w", "topologies": {"clos": "dense"}}]},
         "claims.0.controls.0.topologies", "changes runs"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "controls": [{"id": "x", "why": "w", "runs": {"clos": {"mode": "training"}}},
                       {"id": "x", "why": "w", "runs": {"clos": {"mode": "training"}}}]},
         "claims.0.controls.1.id", "unique"),
        ({"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1,
          "controls": [{"id": "x", "why": "w", "runs": {"clos": {"engine": "dse"}}}]},
         "claims.0.controls.0.runs.clos.engine", "did you mean 'des'"),
    ],
)  # fmt: skip
def test_bad_claim_files_name_the_key(
    folder: Path, fields: dict[str, Any], key: str, words: str
) -> None:
    err = bad(folder, [claim("x", **fields)])
    assert err.key_path == key, str(err)
    assert words in str(err)


def test_bad_references_and_overrides_name_the_key(folder: Path) -> None:
    check = {"metric": "cycles", "ratio": ["clos", "dense"], "at_most": 1}
    err = bad(folder, [claim("x", **check), claim("x", **check)])
    assert err.key_path == "claims.1.id" and "unique" in str(err)
    runs = {**RUNS, "dense": {"hw": "tpu-v9", "workload": "wl-dense.yaml"}}
    err = bad(folder, [claim("x", **check, runs=runs)])
    assert err.key_path == "claims.0.runs.dense.hw" and "did you mean 'tpu-v4'" in str(err)
    runs = {**RUNS, "dense": {**RUNS["dense"], "set": ["hw.pe_array.rows=-3"]}}
    err = bad(folder, [claim("x", **check, runs=runs)])
    assert err.key_path == "claims.0.runs.dense.set" and "hw.pe_array.rows" in str(err)
    runs = {**RUNS, "dense": {**RUNS["dense"], "set": {"sw.batch": 3}}}
    err = bad(folder, [claim("x", **check, runs=runs)])
    assert err.key_path == "claims.0.runs.dense.set" and "hw. or workload." in str(err)
    runs = {**RUNS, "dense": {"workload": "wl-dense.yaml"}}
    err = bad(folder, [claim("x", **check, runs=runs)])
    assert err.key_path == "claims.0.runs.dense.hw"
    err = bad(folder, [{"id": "x", "text": "t", "source": "s", "metric": "cycles",
                        "at_most": 1}])  # fmt: skip
    assert "either runs" in str(err) and "neither" in str(err)
    control = {"id": "c", "why": "w", "runs": {"dense": {"set": ["hw.pe_array.rows=-3"]}}}
    err = bad(folder, [claim("x", **check, controls=[control])])
    assert err.key_path == "claims.0.controls.0.runs.dense.set" and "hw.pe_array.rows" in str(err)
    control = {"id": "c", "why": "w", "runs": {"dense": {"hw": "tpu-v9"}}}
    err = bad(folder, [claim("x", **check, controls=[control])])
    assert err.key_path == "claims.0.controls.0.runs.dense.hw" and "tpu-v4" in str(err)


def test_a_training_topology_that_does_not_fit_is_named(folder: Path) -> None:
    training = {"workload": "wl-train.yaml", "topologies": {"odd": {"kind": "clos", "r": 7}}}
    err = bad(
        folder,
        [{"id": "x", "text": "t", "source": "s", "training": training, "metric": "accuracy",
          "at_least": 50}],
    )  # fmt: skip
    assert err.key_path == "claims.0.training.topologies.odd" and "r=7" in str(err)
    err = bad(
        folder,
        [{"id": "x", "text": "t", "source": "s", "training": {**training, "topologies":
          {"d": "dense"}}, "metric": "cycles", "at_least": 50}],
    )  # fmt: skip
    assert err.key_path == "claims.0.metric" and "accuracy" in str(err)


def test_not_a_claims_file(folder: Path) -> None:
    with pytest.raises(ConfigError, match="a workload, but a claims file"):
        load_claims(folder / "wl-dense.yaml")


def test_bundled_claim_files_load() -> None:
    for name in ("closnets", "monarch"):
        claims = load_claims(ROOT / "claims" / f"{name}.yaml")
        assert claims.claims and all(c.source for c in claims.claims)
        assert claims.db == ROOT / "claims" / f"{name}.sqlite"


def test_sim_metrics_are_the_totals_keys() -> None:
    hw = load_hw("scalesim-32x32")
    totals = result_dict(simulate(hw, load_workload("gemm")))["totals"]
    assert set(SIM_METRICS) == set(flatten(totals))


def test_render_claims() -> None:
    results = [
        ClaimResult("a", "text a", "src", "cycles x/y < 1", 0.5, "PASS", "cycles: x 1, y 2"),
        ClaimResult("b", "text b", "src", "cycles x/y < 1", None, "FAIL", "run y failed"),
    ]
    data = json.loads(render_claims(results, "json"))
    assert [set(c) >= {"id", "text", "expected", "measured", "verdict"} for c in data["claims"]]
    assert data["claims"][1]["measured"] is None
    table = render_claims(results, "table")
    assert "1 of 2 hold" in table and "PASS" in table and "n/a" in table


def test_render_claims_with_controls_as_markdown_and_json() -> None:
    from closim.claims.records import ControlResult

    held = ControlResult("same", "w", "PASS", 0.4, "cycles: x 2, y 5")
    failed = ControlResult("dense", "w", "FAIL", 1.0, "cycles: y 5")
    results = [
        ClaimResult("a", "text | a", "src", "cycles x/y < 1", 0.5, "PASS", "d", {}, [failed]),
        ClaimResult("b", "text b", "src", "cycles x/y < 1", 0.5, "INCONCLUSIVE", "d", {},
                    [failed, held]),
        ClaimResult("c", "text c", "src", "cycles x/y < 1", 0.9, "UNDECIDED", "d",
                    {"des": "FAIL", "analytic": "PASS"}),
    ]  # fmt: skip
    markdown = render_claims(results, "markdown")
    assert markdown.startswith("Claims: 1 of 3 hold; 1 inconclusive, 1 undecided.")
    rows = [line for line in markdown.splitlines() if line.startswith("| **")]
    assert len(rows) == 3
    assert "text \\| a" in rows[0]  # a pipe in a cell does not split it
    assert "same PASS (it must fail)" in rows[1] and "dense FAIL (as it must)" in rows[1]
    assert "| none |" in rows[2]
    data = json.loads(render_claims(results, "json"))["claims"]
    assert [c["discriminates"] for c in data] == [True, False, None]
    assert data[2]["engines"] == {"des": "FAIL", "analytic": "PASS"}
    assert data[1]["controls"][1] == {"id": "same", "why": "w", "verdict": "PASS",
                                      "measured": 0.4, "detail": "cycles: x 2, y 5"}  # fmt: skip


def test_validate_exits_1_on_an_inconclusive_claim_and_writes_markdown(folder: Path) -> None:
    from closim.cli import main

    ratio = {"metric": "weight_bytes", "ratio": ["clos", "dense"], "at_most": 0.2}
    same = {"id": "same", "why": "the claim's own runs", "runs": {"clos": {"mode": "inference"}}}
    path = write_claims(folder, [claim("weak", **ratio, controls=[same])])
    out = folder / "claims.md"
    assert main(["validate", str(path), "--quiet", "--format", "markdown", "--out", str(out)]) == 1
    text = out.read_text()
    assert "**INCONCLUSIVE**" in text and "same PASS (it must fail)" in text
    path = write_claims(folder, [claim("fine", **ratio)], name="ok.yaml")
    assert main(["validate", str(path), "--quiet", "--format", "markdown"]) == 0
