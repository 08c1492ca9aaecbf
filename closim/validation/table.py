"""``closim validate SUITE`` output: one row per case (published, closim, error, tolerance,
verdict), then the suite's mean absolute error against its target."""

from __future__ import annotations

from typing import Any

from closim.report.render import table_text, to_json
from closim.validation.records import CaseResult, SuiteResult

UNITS = {"seconds": "s", "cycles": "cycles", "tflops": "TFLOPS", "tops": "TOPS"}
LABELS = {"seconds": "time", "cycles": "cycles", "tflops": "TFLOPS", "tops": "TOPS"}


def _case_dict(r: CaseResult) -> dict[str, Any]:
    c = r.case
    return {
        "id": c.id,
        "chip": c.chip,
        "file": c.file,
        "quantity": c.quantity,
        "unit": UNITS[c.quantity],
        "published": c.published,
        "closim": r.closim,
        "error_pct": r.error_pct,
        "abs_error_pct": r.abs_error_pct,
        "tolerance_pct": c.tolerance_pct,
        "verdict": r.verdict,
        "mapping": c.mapping,
        "overhead_us": c.overhead_s * 1e6,
        "source": c.source,
        "known_issue": c.known_issue,
        "engine": c.run.engine,
    }


def suite_dict(result: SuiteResult) -> dict[str, Any]:
    """The JSON object of ``closim validate SUITE --format json``: the suite's verdict, MAE
    (percent, known issues excluded; ``mae_all_pct`` with them), target, counts, and per case
    the published and closim values, signed and absolute error (percent) and verdict."""
    counted = result.counted
    return {
        "suite": result.suite.source,
        "verdict": result.verdict,
        "mae_pct": result.mae_pct,
        "mae_all_pct": result.mae_all_pct,
        "target_mae_pct": result.suite.target_mae_pct,
        "cases_counted": len(counted),
        "cases_passed": sum(r.verdict == "PASS" for r in counted),
        "known_issues": sum(r.verdict == "KNOWN" for r in result.results),
        "chips": sorted({r.case.chip for r in counted}),
        "cases": [_case_dict(r) for r in result.results],
    }


def _number(quantity: str, value: float) -> str:
    """A published or simulated value, short: 794.5 (TFLOPS), 190.0 us, 1.199 ms, 12,345."""
    if quantity == "seconds":
        for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
            if abs(value) >= scale or unit == "us":
                return f"{value / scale:.4g} {unit}"
    if quantity == "cycles":
        return f"{value:,.0f}"
    return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"


def _summary(result: SuiteResult) -> str:
    counted = result.counted
    passed = sum(r.verdict == "PASS" for r in counted)
    known = len(result.results) - len(counted)
    chips = len({r.case.chip for r in counted})
    line = (
        f"mean absolute error {result.mae_pct:.1f}% over {len(counted)} cases from {chips} chips "
        f"(target <= {result.suite.target_mae_pct:g}%); {passed} of {len(counted)} within "
        f"tolerance: {result.verdict}"
    )
    if known:
        line += f"\n{known} known issue(s) not counted (MAE with them {result.mae_all_pct:.1f}%):"
        for r in result.results:
            if r.verdict == "KNOWN":
                line += f"\n  {r.case.id} ({r.error_pct:+.1f}%): {r.case.known_issue}"
    return line


def _markdown(result: SuiteResult) -> str:
    lines = [
        "| case | chip | quantity | published | closim | error | tol. | verdict |",
        "|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in result.results:
        c = r.case
        cells = (c.id, c.chip, LABELS[c.quantity], _number(c.quantity, c.published),
                 _number(c.quantity, r.closim), f"{r.error_pct:+.1f}%", f"{c.tolerance_pct:g}%",
                 r.verdict)  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + _summary(result).replace("\n", "\n\n") + "\n"


def render_suite(result: SuiteResult, fmt: str) -> str:
    """``fmt`` "table" (rich text and the summary), "json" (see ``suite_dict``) or "markdown"
    (a GitHub table and the summary)."""
    if fmt == "json":
        return to_json(suite_dict(result))
    if fmt == "markdown":
        return _markdown(result)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}, expected table, json or markdown")
    from rich.table import Table  # lazy: rich costs ~0.1 s to import

    table = Table(title=f"validation: {result.suite.source}")
    table.add_column("case", ratio=3)
    table.add_column("chip", ratio=2)
    table.add_column("quantity", no_wrap=True)
    table.add_column("published", justify="right", no_wrap=True)
    table.add_column("closim", justify="right", no_wrap=True)
    table.add_column("error", justify="right", no_wrap=True)
    table.add_column("tol.", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for r in result.results:
        c = r.case
        table.add_row(
            c.id,
            c.chip,
            LABELS[c.quantity],
            _number(c.quantity, c.published),
            _number(c.quantity, r.closim),
            f"{r.error_pct:+.1f}%",
            f"{c.tolerance_pct:g}%",
            r.verdict,
        )
    return table_text(table) + _summary(result) + "\n"
