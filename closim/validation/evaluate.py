"""Evaluating a validation suite: closim's value of each case's quantity, its error against the
published number, and the suite's mean absolute error and verdict."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from closim.api import simulate
from closim.config.loader import load_hw, load_workload
from closim.validation.records import Case, CaseResult, Suite, SuiteResult

Progress = Callable[[int, int, int], None]


def error_pct(closim: float, published: float) -> float:
    """Signed relative error in percent: ``(closim - published) / published x 100``."""
    return (closim - published) / published * 100.0


def mean_abs_error_pct(errors: Iterable[float]) -> float:
    """Mean of |error| over ``errors`` (percent); 0.0 for none."""
    values = [abs(e) for e in errors]
    return sum(values) / len(values) if values else 0.0


def quantity_value(
    quantity: str, seconds: float, cycles: int, macs: int, overhead_s: float
) -> float:
    """A run's value of ``quantity``: ``seconds`` (plus the fixed ``overhead_s``), ``cycles``, or
    ``tflops``/``tops``: 2 operations per MAC over the time with the overhead, in 1e12 per s."""
    if quantity == "cycles":
        return float(cycles)
    time_s = seconds + overhead_s
    if quantity == "seconds":
        return time_s
    if quantity in ("tflops", "tops"):
        return 2.0 * macs / time_s / 1e12
    raise ValueError(f"unknown quantity {quantity!r}")


def run_case(case: Case) -> CaseResult:
    """Simulates ``case``'s run and compares its quantity with the published number."""
    run = case.run
    hw = load_hw(run.hw, run.hw_set or None)
    workload = load_workload(run.workload, run.workload_set or None)
    result = simulate(hw, workload, engine=run.engine, mode=run.mode)
    totals = result.totals
    value = quantity_value(
        case.quantity, result.seconds, totals.cycles, totals.macs, case.overhead_s
    )
    error = error_pct(value, case.published)
    if case.known_issue is not None:
        verdict = "KNOWN"
    else:
        verdict = "PASS" if abs(error) <= case.tolerance_pct else "FAIL"
    return CaseResult(case, value, error, verdict)


def suite_result(suite: Suite, results: Iterable[CaseResult]) -> SuiteResult:
    """The suite's MAE (over the cases that count) and verdict from its case results: PASS when
    every counted case is within its tolerance and the MAE is at most the target."""
    results = tuple(results)
    counted = [r for r in results if r.verdict != "KNOWN"]
    mae = mean_abs_error_pct(r.error_pct for r in counted)
    mae_all = mean_abs_error_pct(r.error_pct for r in results)
    ok = bool(counted) and all(r.verdict == "PASS" for r in counted)
    ok = ok and mae <= suite.target_mae_pct
    return SuiteResult(suite, results, mae, mae_all, "PASS" if ok else "FAIL")


def evaluate_suite(suite: Suite, *, on_progress: Progress | None = None) -> SuiteResult:
    """Runs every case in order; ``on_progress(done, total, failed)`` counts cases."""
    results: list[CaseResult] = []
    total = len(suite.cases)
    if on_progress is not None:
        on_progress(0, total, 0)
    for case in suite.cases:
        results.append(run_case(case))
        if on_progress is not None:
            on_progress(len(results), total, sum(r.verdict == "FAIL" for r in results))
    return suite_result(suite, results)
