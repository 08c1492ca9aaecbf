"""``closim validate`` output: one row per claim (claim, expected, measured, verdict, detail)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from closim.claims import ClaimResult
from closim.report.render import table_text, to_json


def claims_dict(results: list[ClaimResult]) -> dict[str, Any]:
    """The JSON object of ``closim validate --format json``: id, text, expected, measured and
    verdict per claim, plus its source and the detail behind the measurement."""
    return {
        "claims": [
            {
                "id": r.id,
                "text": r.text,
                "expected": r.expected,
                "measured": r.measured,
                "verdict": r.verdict,
                "source": r.source,
                "detail": r.detail,
            }
            for r in results
        ]
    }


def _measured(value: float | None) -> str:
    if value is None:
        return "n/a"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1e6 or (value and abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


def render_claims(results: list[ClaimResult], fmt: str) -> str:
    """``fmt`` "table" (rich text) or "json" (see ``claims_dict``)."""
    if fmt == "json":
        return to_json(claims_dict(results))
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}, expected table or json")
    passed = sum(r.verdict == "PASS" for r in results)
    table = Table(title=f"claims: {passed} of {len(results)} hold", show_lines=True)
    table.add_column("claim", ratio=3)
    table.add_column("expected", ratio=2)
    table.add_column("measured", justify="right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("detail", ratio=3)
    for r in results:
        table.add_row(f"{r.id}: {r.text}", r.expected, _measured(r.measured), r.verdict, r.detail)
    return table_text(table)
