"""``closim validate`` output: one row per claim (claim, expected, measured, verdict, controls,
detail), as a rich table, JSON or a Markdown table (which the README includes)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from closim.claims import ClaimResult
from closim.claims.records import ControlResult, number_text
from closim.report.render import table_text, to_json


def claims_dict(results: list[ClaimResult]) -> dict[str, Any]:
    """The JSON object of ``closim validate --format json``: per claim its id, text, expected,
    measured, verdict, per-engine outcome, whether its check discriminates (null: no control),
    each control's outcome, its source and the detail behind the measurement."""
    return {
        "claims": [
            {
                "id": r.id,
                "text": r.text,
                "expected": r.expected,
                "measured": r.measured,
                "verdict": r.verdict,
                "engines": r.engines,
                "discriminates": r.discriminates,
                "controls": [_control_dict(c) for c in r.controls],
                "source": r.source,
                "detail": r.detail,
            }
            for r in results
        ]
    }


def _control_dict(c: ControlResult) -> dict[str, Any]:
    return {"id": c.id, "why": c.why, "verdict": c.verdict, "measured": c.measured,
            "detail": c.detail}  # fmt: skip


def _measured(value: float | None) -> str:
    return "n/a" if value is None else number_text(value)


def controls_text(result: ClaimResult) -> str:
    """``no-packing FAIL (as it must), dense PASS (it must fail)``; ``none`` without controls."""
    if not result.controls:
        return "none"
    return ", ".join(
        f"{c.id} {c.verdict} ({'as it must' if c.verdict == 'FAIL' else 'it must fail'})"
        for c in result.controls
    )


def summary_text(results: list[ClaimResult]) -> str:
    """``2 of 5 hold; 1 fail, 1 inconclusive, 1 undecided``."""
    passed = sum(r.verdict == "PASS" for r in results)
    others = [
        f"{n} {verdict.lower()}"
        for verdict in ("FAIL", "INCONCLUSIVE", "UNDECIDED")
        if (n := sum(r.verdict == verdict for r in results))
    ]
    return f"{passed} of {len(results)} hold" + (f"; {', '.join(others)}" if others else "")


def _markdown(results: list[ClaimResult]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        f"Claims: {summary_text(results)}.",
        "",
        "| claim | expected | measured | verdict | controls (each must FAIL) | detail |",
        "|---|---|---:|---|---|---|",
    ]
    for r in results:
        row = (f"**{r.id}**: {r.text}", r.expected, _measured(r.measured), f"**{r.verdict}**",
               controls_text(r), r.detail)  # fmt: skip
        lines.append("| " + " | ".join(cell(x) for x in row) + " |")
    return "\n".join(lines) + "\n"


def render_claims(results: list[ClaimResult], fmt: str) -> str:
    """``fmt`` "table" (rich text), "json" (see ``claims_dict``) or "markdown" (a GitHub table,
    for documents generated from closim's own verdicts)."""
    if fmt == "json":
        return to_json(claims_dict(results))
    if fmt == "markdown":
        return _markdown(results)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}, expected table, json or markdown")
    table = Table(title=f"claims: {summary_text(results)}", show_lines=True)
    table.add_column("claim", ratio=3)
    table.add_column("expected", ratio=2)
    table.add_column("measured", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("controls", ratio=2)
    table.add_column("detail", ratio=3)
    for r in results:
        table.add_row(
            f"{r.id}: {r.text}",
            r.expected,
            _measured(r.measured),
            r.verdict,
            controls_text(r),
            r.detail,
        )
    return table_text(table)
