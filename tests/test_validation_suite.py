"""closim.validation: the error arithmetic against hand computation, the bundled suite within its
tolerances and MAE target, controls (halved clock, halved DRAM bandwidth) that must fail exactly
the cases they should, case-file validation with key paths (exit 2), and the CLI's output."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from closim import load_hw, load_workload, simulate
from closim.cli import main
from closim.model.errors import ConfigError
from closim.validation import (
    Case,
    CaseResult,
    Run,
    Suite,
    error_pct,
    evaluate_suite,
    is_validation,
    load_suite,
    mean_abs_error_pct,
    quantity_value,
    run_case,
    suite_result,
)

ROOT = Path(__file__).resolve().parents[1]
SUITE = ROOT / "validation"
TPU_CASE = {
    "id": "mlp0",
    "chip": "Google TPU v1",
    "source": "test",
    "quantity": "tops",
    "published": 12.3,
    "tolerance_pct": 25,
    "mapping": "derived",
    "run": {"hw": "tpu-v1", "workload": str(SUITE / "workloads" / "tpuv1-mlp0.yaml")},
}


def write_cases(folder: Path, cases: list[dict[str, Any]], name: str = "cases.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"cases": cases}, sort_keys=False))
    return path


def make_case(id: str, published: float = 1.0, tolerance: float = 10.0, **kw: Any) -> Case:
    run = Run(hw=Path("hw.yaml"), workload=Path("wl.yaml"), mode=None, engine="analytic")
    fields = dict(
        id=id, chip="chip", source="test", quantity="seconds", published=published,
        tolerance_pct=tolerance, mapping="exact", overhead_s=0.0, known_issue=None, notes="",
        run=run, file="test.yaml",
    )  # fmt: skip
    fields.update(kw)
    return Case(**fields)


def result(case: Case, closim: float, verdict: str) -> CaseResult:
    return CaseResult(case, closim, error_pct(closim, case.published), verdict)


# --- arithmetic -----------------------------------------------------------------------------


def test_error_mae_and_quantities_by_hand() -> None:
    assert error_pct(110.0, 100.0) == pytest.approx(10.0)
    assert error_pct(75.0, 100.0) == pytest.approx(-25.0)
    assert mean_abs_error_pct([10.0, -20.0, 5.0]) == pytest.approx(35.0 / 3.0)
    assert mean_abs_error_pct([]) == 0.0
    # 5e11 MACs in 1 ms: 2 x 5e11 / 1e-3 s = 1e15 op/s = 1000 in units of 1e12
    assert quantity_value("tflops", 1e-3, 7, 5 * 10**11, 0.0) == pytest.approx(1000.0)
    # the overhead is added to the time before dividing: 0.9 ms + 0.1 ms
    assert quantity_value("tops", 0.9e-3, 7, 5 * 10**11, 0.1e-3) == pytest.approx(1000.0)
    assert quantity_value("seconds", 2e-6, 7, 1, 21e-6) == pytest.approx(23e-6)
    assert quantity_value("cycles", 1.0, 12345, 1, 0.0) == 12345.0
    with pytest.raises(ValueError):
        quantity_value("joules", 1.0, 1, 1, 0.0)


def test_suite_verdict_rules_by_hand() -> None:
    suite = Suite("s", "", 10.0, ())
    # |error| equal to the tolerance passes; the MAE counts PASS and FAIL cases, not KNOWN ones
    edge = result(make_case("edge", 100.0, tolerance=10.0), 110.0, "PASS")
    small = result(make_case("small", 100.0), 102.0, "PASS")
    known = result(make_case("known", 100.0, known_issue="bug"), 300.0, "KNOWN")
    out = suite_result(suite, [edge, small, known])
    assert out.mae_pct == pytest.approx((10.0 + 2.0) / 2)
    assert out.mae_all_pct == pytest.approx((10.0 + 2.0 + 200.0) / 3)
    assert out.verdict == "PASS"
    # a MAE just over the target fails although every case is within its tolerance
    over = suite_result(dataclasses.replace(suite, target_mae_pct=5.9), [edge, small])
    assert over.verdict == "FAIL"
    # one case beyond its tolerance fails the suite whatever the MAE
    bad = result(make_case("bad", 100.0, tolerance=1.0), 102.0, "FAIL")
    assert suite_result(dataclasses.replace(suite, target_mae_pct=50), [bad]).verdict == "FAIL"
    # nothing counted is not a pass
    assert suite_result(suite, [known]).verdict == "FAIL"


def test_run_case_matches_a_hand_computed_tops(tmp_path: Path) -> None:
    """tpu-v1 MLP0: TOPS = 2 x (5 layers x 200 x 2000 x 2000 MACs) / (seconds + overhead)."""
    case = {**TPU_CASE, "overhead_us": 50.0}
    suite = load_suite(write_cases(tmp_path, [case]))
    (c,) = suite.cases
    hw = load_hw("tpu-v1")
    seconds = simulate(hw, load_workload(c.run.workload), engine="analytic").seconds
    macs = 5 * 200 * 2000 * 2000
    expected = 2 * macs / (seconds + 50e-6) / 1e12
    r = run_case(c)
    assert r.closim == pytest.approx(expected, rel=1e-12)
    assert r.error_pct == pytest.approx((expected - 12.3) / 12.3 * 100, rel=1e-12)
    assert r.verdict == ("PASS" if abs(r.error_pct) <= 25 else "FAIL")
    # the same case as a known issue: reported with its error, outside the verdict
    known = load_suite(write_cases(tmp_path, [{**case, "known_issue": "a bug"}], "k.yaml"))
    k = run_case(known.cases[0])
    assert k.verdict == "KNOWN" and k.error_pct == pytest.approx(r.error_pct)


# --- the bundled suite ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bundled():
    suite = load_suite(SUITE)
    return suite, evaluate_suite(suite)


def test_bundled_suite_meets_its_targets(bundled) -> None:
    suite, out = bundled
    counted = out.counted
    assert suite.target_mae_pct == 10
    assert len(counted) >= 8
    assert len({r.case.chip for r in counted}) >= 3
    for r in out.results:  # every error is (closim - published) / published
        assert r.error_pct == pytest.approx((r.closim - r.case.published) / r.case.published * 100)
    beyond = [(r.case.id, round(r.error_pct, 1)) for r in counted if r.verdict != "PASS"]
    assert not beyond
    assert out.mae_pct == pytest.approx(sum(abs(r.error_pct) for r in counted) / len(counted))
    assert out.mae_pct <= 10
    assert out.verdict == "PASS"
    assert all(r.verdict == "KNOWN" for r in out.results if r.case.known_issue)


def test_bundled_suite_covers_small_m_and_large_squares_on_gpus(bundled) -> None:
    """The GPU configs within 25% on small M (M <= 128, memory-bound) and on large squares."""
    _, out = bundled
    gpu = [r for r in out.counted if "NVIDIA" in r.case.chip]
    small = [r for r in gpu if r.case.run.workload_set["batch"] <= 128]
    square = [
        r for r in gpu
        if r.case.run.workload_set["batch"] >= 4096
        and r.case.run.workload_set["batch"] == r.case.run.workload_set["layers.gemm.in_features"]
        == r.case.run.workload_set["layers.gemm.out_features"]
    ]  # fmt: skip
    assert {r.case.chip for r in small} == {"NVIDIA H100 SXM5", "NVIDIA A100 80GB"}
    assert {r.case.chip for r in square} == {"NVIDIA H100 SXM5", "NVIDIA A100 80GB"}
    assert all(r.abs_error_pct <= 25 for r in small + square)


def _scaled(suite: Suite, ids: set[str], key: str, factor: float) -> Suite:
    """The cases ``ids`` of ``suite`` with the hw value at ``key`` scaled by ``factor``."""
    cases = []
    for c in suite.cases:
        if c.id not in ids:
            continue
        hw = load_hw(c.run.hw, c.run.hw_set or None)
        value = {"clock_mhz": hw.clock_mhz, "dram.bandwidth_gb_per_s": hw.dram.bandwidth_gb_per_s}
        run = dataclasses.replace(c.run, hw_set={**c.run.hw_set, key: value[key] * factor})
        cases.append(dataclasses.replace(c, run=run))
    assert len(cases) == len(ids)
    return dataclasses.replace(suite, cases=tuple(cases))


def test_control_halved_clock_or_bandwidth_fails_what_it_bounds(bundled) -> None:
    """The control that must fail: halving the clock fails the compute-bound large square and
    leaves the DRAM-bound MLP within tolerance; halving the DRAM bandwidth does the opposite."""
    suite, base = bundled
    square, mlp, small_m = "h100-xla-n4096-k4096-m4096", "tpuv1-mlp0", "h100-vllm-m64-n12288-k5376"
    ids = {square, mlp, small_m}
    before = {r.case.id: r.closim for r in base.results}

    slow = {r.case.id: r for r in evaluate_suite(_scaled(suite, ids, "clock_mhz", 0.5)).results}
    assert slow[square].verdict == "FAIL"
    assert slow[square].closim / before[square] == pytest.approx(0.5, abs=0.05)
    assert slow[mlp].verdict == "PASS"

    narrow = _scaled(suite, ids, "dram.bandwidth_gb_per_s", 0.5)
    outcome = evaluate_suite(narrow)
    starved = {r.case.id: r for r in outcome.results}
    assert outcome.verdict == "FAIL"
    assert starved[mlp].verdict == starved[small_m].verdict == "FAIL"
    assert starved[mlp].closim / before[mlp] == pytest.approx(0.5, abs=0.06)
    assert starved[square].verdict == "PASS"


def test_control_case_file_fails_on_the_command_line(tmp_path: Path, capsys) -> None:
    """The same control as a file: the MLP0 case with tpu-v1's DRAM at half its 34 GB/s."""
    ok = {**TPU_CASE, "id": "mlp0-as-published"}
    halved = {**TPU_CASE, "run": {**TPU_CASE["run"], "set": ["hw.dram.bandwidth_gb_per_s=17"]}}
    write_cases(tmp_path, [ok], "ok.yaml")
    write_cases(tmp_path, [halved], "halved.yaml")
    assert main(["validate", str(tmp_path / "ok.yaml"), "--quiet", "--format", "json"]) == 0
    passed = json.loads(capsys.readouterr().out)
    assert main(["validate", str(tmp_path), "--quiet", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "FAIL"
    verdicts = {c["id"]: c["verdict"] for c in data["cases"]}
    assert verdicts == {"mlp0-as-published": "PASS", "mlp0": "FAIL"}
    by_id = {c["id"]: c for c in data["cases"]}
    ratio = by_id["mlp0"]["closim"] / passed["cases"][0]["closim"]
    assert ratio == pytest.approx(0.5, abs=0.06)  # the DRAM-bound MLP halves with the bandwidth


# --- command line and files -----------------------------------------------------------------


def test_table_and_json_output(tmp_path: Path, capsys) -> None:
    write_cases(tmp_path, [TPU_CASE])
    (tmp_path / "suite.yaml").write_text("target_mae_pct: 25\n")
    assert main(["validate", str(tmp_path), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "mlp0" in text and "TOPS" in text and "target <= 25%" in text
    assert main(["validate", str(tmp_path), "--quiet", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (case,) = data["cases"]
    assert data["target_mae_pct"] == 25 and data["verdict"] == "PASS"
    assert data["mae_pct"] == pytest.approx(case["abs_error_pct"])
    assert case["error_pct"] == pytest.approx((case["closim"] - 12.3) / 12.3 * 100)
    # the target on the command line wins over suite.yaml's: MAE above 0.01% fails
    assert main(["validate", str(tmp_path), "--quiet", "--target-mae", "0.01"]) == 1
    assert "FAIL" in capsys.readouterr().out
    assert main(["validate", str(tmp_path), "--quiet", "--format", "markdown"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| mlp0 ")]
    assert len(rows) == 1 and rows[0].endswith(" | PASS |")
    assert f"{case['error_pct']:+.1f}%" in rows[0]


def test_routing_keeps_claims_files_working(tmp_path: Path, capsys) -> None:
    assert is_validation(SUITE) and is_validation(SUITE / "tpu-v1.yaml")
    assert not is_validation(ROOT / "claims" / "closnets.yaml")
    run = {"hw": "scalesim-32x32", "workload": "gemm", "engine": "analytic"}
    claim = {
        "id": "b",
        "text": "t",
        "source": "s",
        "metric": "macs",
        "at_least": 1,
        "runs": {"a": run},
    }
    claims = tmp_path / "c.yaml"
    claims.write_text(yaml.safe_dump({"claims": [claim]}))
    db = str(tmp_path / "c.sqlite")
    assert main(["validate", str(claims), "--db", db, "--quiet", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["claims"][0]["verdict"] == "PASS"
    assert main(["validate", str(claims), "--target-mae", "5"]) == 2
    assert "--target-mae: applies to validation suites only" in capsys.readouterr().err
    write_cases(tmp_path, [TPU_CASE], "v.yaml")
    assert main(["validate", str(tmp_path / "v.yaml"), "--db", db]) == 2
    assert "--db: applies to claims files only" in capsys.readouterr().err


BAD = [
    ({"tolerance_pct": "ten"}, "cases.0.tolerance_pct", "number"),
    ({"tolerence_pct": 25}, "cases.0.tolerence_pct", "tolerance_pct"),
    ({"quantity": "flops"}, "cases.0.quantity", "tflops"),
    ({"published": -1.0}, "cases.0.published", "-1"),
    ({"quantity": "cycles", "overhead_us": 5}, "cases.0.overhead_us", "a time"),
    ({"run": {"hw": "tpu-v9", "workload": "gemm"}}, "cases.0.run.hw", "tpu-v9"),
    ({"run": {"hw": "tpu-v1", "workload": "gemm", "engine": "dess"}}, "cases.0.run.engine", "des"),
    (
        {"run": {"hw": "tpu-v1", "workload": "gemm", "set": ["hw.pe_array.rowz=4"]}},
        "cases.0.run.set",
        "rowz",
    ),
]


@pytest.mark.parametrize(("change", "key", "hint"), BAD)
def test_bad_case_files_exit_2_with_the_key(
    tmp_path: Path, capsys, change: dict, key: str, hint: str
) -> None:
    path = write_cases(tmp_path, [{**TPU_CASE, **change}])
    with pytest.raises(ConfigError) as err:
        load_suite(path)
    assert err.value.key_path == key and hint in err.value.message
    assert main(["validate", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert lines[0].startswith(f"closim: error: {path}: {key}: ")  # tmp_path: shown absolute


def test_bad_directories_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no validation case files"):
        load_suite(tmp_path)
    write_cases(tmp_path, [TPU_CASE], "a.yaml")
    write_cases(tmp_path, [TPU_CASE], "b.yaml")
    with pytest.raises(ConfigError) as err:
        load_suite(tmp_path)
    assert err.value.source.endswith("b.yaml") and err.value.key_path == "cases.0.id"
    (tmp_path / "b.yaml").write_text((ROOT / "claims" / "closnets.yaml").read_text())
    with pytest.raises(ConfigError, match="this is a claims file"):
        load_suite(tmp_path)
    (tmp_path / "b.yaml").unlink()
    (tmp_path / "suite.yaml").write_text("target_mae_pct: 0\n")
    with pytest.raises(ConfigError) as err:
        load_suite(tmp_path)
    assert err.value.source.endswith("suite.yaml") and err.value.key_path == "target_mae_pct"
