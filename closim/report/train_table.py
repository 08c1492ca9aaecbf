"""``closim train`` output: one row per topology (params, test accuracy, time per epoch)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from closim.report.render import table_text, to_json
from closim.train import TrainResult


def train_dict(results: list[TrainResult]) -> dict[str, Any]:
    """The JSON object of ``closim train --format json``: the data set and one entry per topology;
    accuracies as fractions (0..1), ``accuracies`` one per (fold, seed) run, paired by index
    across the topologies (``closim.train.paired_difference``)."""
    return {
        "dataset": _dataset(results),
        "results": [
            {
                "topology": r.topology,
                "params": r.params,
                "accuracy": r.accuracy,
                "accuracy_std": r.accuracy_std,
                "seconds_per_epoch": r.seconds_per_epoch,
                "accuracies": list(r.accuracies),
            }
            for r in results
        ],
    }


def render_train(results: list[TrainResult], fmt: str) -> str:
    """``fmt`` "table" (rich text, accuracy in percent) or "json" (see ``train_dict``)."""
    if fmt == "json":
        return to_json(train_dict(results))
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}, expected table or json")
    runs = len(results[0].accuracies) if results else 0
    table = Table(
        title=f"test accuracy on {_dataset(results)}, mean ± std over {runs} (fold, seed) runs"
    )
    table.add_column("hidden topology")
    table.add_column("params", justify="right")
    dense = next((r.params for r in results if r.topology == "dense"), None)
    if dense is not None:
        table.add_column("dense / this", justify="right")
    table.add_column("accuracy %", justify="right")
    table.add_column("min-max %", justify="right")
    table.add_column("s / epoch", justify="right")
    for r in results:
        low, high = (min(r.accuracies), max(r.accuracies)) if r.accuracies else (r.accuracy,) * 2
        cells = [r.topology, f"{r.params:,}"]
        if dense is not None:
            cells.append(f"{dense / r.params:.2f}x")
        cells += [
            f"{100 * r.accuracy:.2f} ± {100 * r.accuracy_std:.2f}",
            f"{100 * low:.1f}-{100 * high:.1f}",
            f"{r.seconds_per_epoch:.3f}",
        ]
        table.add_row(*cells)
    return table_text(table)


def _dataset(results: list[TrainResult]) -> str:
    """The data set of ``results`` (all of one ``train_topologies`` call): digits when empty."""
    names = sorted({r.dataset for r in results}) or ["digits"]
    return ", ".join(names)
