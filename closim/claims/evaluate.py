"""Evaluating claims: each check's measurement from its runs' results, and the verdict."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from closim.claims.records import (
    Check,
    Claim,
    ClaimResult,
    ClaimsFile,
    ControlResult,
    number_text,
)
from closim.claims.runner import RunFailed, Runner
from closim.model.errors import ConfigError

Progress = Callable[[int, int, int], None]


def sim_metric(run_result: Mapping[str, Any], metric: str) -> float:
    """The value of ``metric`` (a dotted totals key or ``layers.NAME.KEY``) in a run's result."""
    parts = metric.split(".")
    node: Any = run_result["totals"]
    if parts[0] == "layers" and len(parts) > 2:
        layers = {layer["name"]: layer for layer in run_result["layers"]}
        if parts[1] not in layers:
            raise ConfigError(
                f"the workload has no layer {parts[1]!r} (layers: {', '.join(layers)})",
                key_path="metric",
            )
        node, parts = layers[parts[1]], parts[2:]
    for part in parts:
        node = node[part]
    return float(node)


def _train_metric(result: Any, metric: str) -> float:
    if metric == "accuracy":
        return 100.0 * result.accuracy
    if metric == "accuracy_std":
        return 100.0 * result.accuracy_std
    return float(getattr(result, metric))


Outcome = tuple[Check, float | None, bool, str]
"""(check, measured or None, whether it holds, a note: Amdahl's ratio, spreads or an error)."""


def _paired(check: Check, samples: Mapping[str, list[float]]) -> tuple[float | None, bool, str]:
    """(mean difference, holds, note) of a ``confidence`` check: the paired t interval of the
    per-(fold, seed) accuracy differences must lie inside ±within."""
    from closim.train.paired import paired_difference

    a, b = check.runs
    try:
        d = paired_difference(samples[a], samples[b], check.confidence or 0.95)
    except ValueError as err:  # fewer than two (fold, seed) runs
        return None, False, f"no paired interval: {err}"
    within = check.within or 0.0
    holds = -within <= d.low_points and d.high_points <= within
    note = (
        f"{a}-{b} {d.mean_points:+.2f} points, {d.confidence:.0%} interval "
        f"[{d.low_points:+.2f}, {d.high_points:+.2f}] (paired t, n={d.n})"
    )
    return d.mean_points, holds, note


def _measure(
    check: Check,
    values: Mapping[str, float],
    spreads: Mapping[str, float],
    samples: Mapping[str, list[float]] | None = None,
    ideals: Mapping[str, float] | None = None,
) -> tuple[float | None, bool, str]:
    """(measured or None, holds, note) of ``check`` given each run's value of its metric (and,
    for a training claim, each topology's accuracy per (fold, seed) in ``samples``)."""
    if check.confidence is not None:
        return _paired(check, samples or {})
    if check.kind == "value":
        measured = values[check.runs[0]]
    else:
        a, b = (values[name] for name in check.runs)
        if check.kind == "difference":
            measured = a - b
        elif b == 0:
            return None, False, f"{check.measured_text} is undefined ({check.runs[1]} is 0)"
        else:
            measured = a / b
    note = ""
    if check.ideal is not None and ideals:
        # speedup / compression: the ideal's ratio over the metric's (both a/b)
        ia, ib = (ideals[name] for name in check.runs)
        if ib == 0 or measured == 0:
            return None, False, f"{check.measured_text} is undefined (a ratio is 0)"
        note = f"{check.metric} ratio {number_text(measured)}, {check.ideal} ratio " + (
            number_text(ia / ib))  # fmt: skip
        measured = (ia / ib) / measured
    if check.amdahl_fraction is not None:
        # Amdahl: the part (share f of the time) takes `ratio` of its time, the rest is unchanged
        f = check.amdahl_fraction
        note = f"{check.metric} ratio {number_text(measured)}"
        measured = 1.0 / ((1.0 - f) + f * measured)
    if not math.isfinite(measured):
        return None, False, f"{check.measured_text} is not a finite number"
    holds = check.holds(measured)
    if check.within_spread:
        holds = holds and abs(measured) <= min(spreads[name] for name in check.runs)
        note = "std " + ", ".join(f"{name} {spreads[name]:.2f}" for name in check.runs)
    return measured, holds, note


def _evaluate_once(
    claim: Claim, runner: Runner, hw_file: Path | None
) -> tuple[list[Outcome], dict[str, dict[str, float]]]:
    """Each check's outcome, and metric -> run -> value, for one accelerator (or the runs' own
    hw)."""
    outcomes: list[Outcome] = []
    table: dict[str, dict[str, float]] = {}
    trained = runner.train(claim.training) if claim.training is not None else None
    results: dict[str, dict[str, Any]] = {}
    for check in claim.checks:
        spreads: dict[str, float] = {}
        samples: dict[str, list[float]] = {}
        if trained is not None:
            values = {name: _train_metric(trained[name], check.metric) for name in check.runs}
            spreads = {name: 100.0 * trained[name].accuracy_std for name in check.runs}
            samples = {name: list(trained[name].accuracies) for name in check.runs}
        else:
            for name in check.runs:
                if name not in results:
                    results[name] = runner.simulate(claim, claim.runs[name], hw_file)
            values = {name: sim_metric(results[name], check.metric) for name in check.runs}
        ideals = None
        if check.ideal is not None:
            ideals = {name: sim_metric(results[name], check.ideal) for name in check.runs}
            table.setdefault(check.ideal, {}).update(ideals)
        table.setdefault(check.metric, {}).update(values)
        outcomes.append((check, *_measure(check, values, spreads, samples, ideals)))
    return outcomes, table


def _detail(outcomes: list[Outcome], table: Mapping[str, Mapping[str, float]]) -> str:
    """``cycles: clos 1,234, dense 5,678; fails: ...``: the runs' values behind the checks."""
    parts = [
        f"{metric}: " + ", ".join(f"{run} {number_text(v)}" for run, v in values.items())
        for metric, values in table.items()
    ]
    parts += [note for _, _, _, note in outcomes if note]
    parts += [f"fails: {check.expected_text}" for check, _, holds, _ in outcomes if not holds]
    return "; ".join(dict.fromkeys(parts))


def _evaluate(claim: Claim, runner: Runner) -> ClaimResult:
    expected = "; ".join(check.expected_text for check in claim.checks)

    def result(measured: float | None, ok: bool, detail: str, expected: str = expected):
        verdict = "PASS" if ok else "FAIL"
        return ClaimResult(claim.id, claim.text, claim.source, expected, measured, verdict, detail)

    try:
        if not claim.across_hw:
            outcomes, table = _evaluate_once(claim, runner, None)
            ok = all(holds for _, _, holds, _ in outcomes)
            # a claim with several checks reports the first check's measurement
            return result(outcomes[0][1], ok, _detail(outcomes, table))
        held, parts = 0, []
        for name, hw_file in claim.across_hw:
            outcomes, _ = _evaluate_once(claim, runner, hw_file)
            ok = all(holds for _, _, holds, _ in outcomes)
            held += ok
            values = ", ".join(
                f"{'speedup_efficiency' if c.ideal else c.metric} "
                f"{'n/a' if m is None else number_text(m)}"
                for c, m, _, _ in outcomes
            )
            parts.append(f"{name}: {values}{'' if ok else ' (fails)'}")
        total = len(claim.across_hw)
        expected_across = f"{expected}; on >= {claim.at_least} of {total} hw"
        # measured: on how many accelerators the claim holds
        return result(float(held), held >= claim.at_least, "; ".join(parts), expected_across)
    except (RunFailed, ConfigError) as err:
        return result(None, False, str(err))


SECOND_ENGINE = {"des": "analytic", "analytic": "des"}
"""The engine whose verdict must agree with a run's own (the DES and the analytic engine)."""


def _swapped(claim: Claim) -> Claim:
    """``claim`` with every run on the other engine (``SECOND_ENGINE``)."""
    runs = {
        name: dataclasses.replace(run, engine=SECOND_ENGINE.get(run.engine, run.engine))
        for name, run in claim.runs.items()
    }
    return dataclasses.replace(claim, runs=runs)


def _engines_label(claim: Claim) -> str:
    engines = {run.engine for run in claim.runs.values()}
    return engines.pop() if len(engines) == 1 else "+".join(sorted(engines))


def _judged(claim: Claim, runner: Runner, second_opinion: bool = True) -> ClaimResult:
    """``claim``'s checks on its runs' engines and on the other engine: PASS or FAIL where the
    two agree, UNDECIDED where they do not (a training claim has no engine: its outcome)."""
    first = _evaluate(claim, runner)
    if claim.training is not None:
        return first
    other = _swapped(claim) if second_opinion else claim
    label, other_label = _engines_label(claim), _engines_label(other)
    if other.runs == claim.runs:  # no second engine for these runs
        first.engines = {label: first.verdict}
        return first
    if label == other_label:  # runs on mixed engines, each swapped
        label, other_label = "as written", "engines swapped"
    second = _evaluate(other, runner)
    first.engines = {label: first.verdict, other_label: second.verdict}
    if second.verdict != first.verdict:
        first.verdict = "UNDECIDED"
        first.detail = (
            f"engines disagree ({', '.join(f'{e} {v}' for e, v in first.engines.items())}); "
            f"{first.detail}; {other_label}: {second.detail}"
        )
    return first


def judge_claim(claim: Claim, runner: Runner, second_opinion: bool = True) -> ClaimResult:
    """The verdict on ``claim`` (``closim.claims.records.VERDICTS``): its checks on both engines
    (on its runs' own alone without ``second_opinion``), then its controls, each of which must
    fail the same checks."""
    result = _judged(claim, runner, second_opinion)
    for control in claim.controls:
        outcome = _judged(control.claim, runner, second_opinion)
        result.controls.append(
            ControlResult(
                control.id, control.why, outcome.verdict, outcome.measured, outcome.detail
            )
        )
    holding = [c.id for c in result.controls if c.verdict != "FAIL"]
    if result.verdict == "PASS" and holding:
        result.verdict = "INCONCLUSIVE"
        result.detail = (
            f"does not discriminate: the check also holds (or is undecided) on control "
            f"{', '.join(holding)}; {result.detail}"
        )
    return result


def evaluate_claims(
    claims: ClaimsFile,
    *,
    db: str | Path | None = None,
    on_progress: Progress | None = None,
    train_workers: int = 1,
    second_opinion: bool = True,
) -> list[ClaimResult]:
    """Evaluates every claim, in file order. Simulations go through the results store ``db``
    (default: the claims file's ``db``, else ``<name>.sqlite`` next to it): stored runs are
    reused, new ones stored. ``on_progress(done, total, failed)`` counts claims (failed: not
    PASS). A claim that cannot be measured (a run failed) is a FAIL whose ``detail`` says why.
    ``train_workers``: processes that train the models of accuracy claims (the results do not
    depend on it). Every simulation claim and control is also judged on the other engine
    (``judge_claim``); ``second_opinion=False`` judges each on its runs' own engine alone, as
    ``benchmarks/claim_engines.py`` does to compare the engines' verdicts itself."""
    runner = Runner(claims, Path(db) if db is not None else claims.db, train_workers)
    results: list[ClaimResult] = []
    total = len(claims.claims)
    try:
        if on_progress is not None:
            on_progress(0, total, 0)
        for claim in claims.claims:
            results.append(judge_claim(claim, runner, second_opinion))
            if on_progress is not None:
                failed = sum(r.verdict != "PASS" for r in results)
                on_progress(len(results), total, failed)
    finally:
        runner.close()
    return results
