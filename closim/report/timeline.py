"""The DES timeline: per-array busy and stall intervals, vector-unit work and DRAM transfers, as a
table (CSV) and as a figure (matplotlib)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from closim.engines.des import Interval

if TYPE_CHECKING:
    import pandas as pd

TIMELINE_COLUMNS = ("resource", "kind", "start", "end", "group", "layer")


def timeline_frame(intervals: list[Interval]) -> pd.DataFrame:
    """One row per interval, in cycles, sorted by resource and start."""
    # lazy: pandas takes ~0.3 s to import; only timeline exports need it
    import pandas as pd

    frame = pd.DataFrame([asdict(i) for i in intervals], columns=list(TIMELINE_COLUMNS))
    return frame.sort_values(["resource", "start", "end"], kind="stable").reset_index(drop=True)


_COLOURS = {"busy": "#1f77b4", "stall": "#d62728", "transfer": "#2ca02c"}


def plot_timeline(frame: pd.DataFrame, out: str, *, title: str = "") -> None:
    """Draws the timeline: one lane per array and the vector unit (busy blue, stalled red), and
    DRAM occupancy (channels busy over time, green) below; writes PNG or SVG to ``out``."""
    # lazy: matplotlib and pandas are slow to import; only drawing a timeline needs them
    import matplotlib
    import pandas as pd

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    missing = set(TIMELINE_COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"not a closim timeline: missing columns {sorted(missing)}")
    lanes = sorted(r for r in frame["resource"].unique() if r != "dram")
    fig, (ax, ax_dram) = plt.subplots(
        2, 1, figsize=(12, 1.2 + 0.5 * len(lanes) + 2), sharex=True,
        gridspec_kw={"height_ratios": [max(1, len(lanes)), 2]},
    )  # fmt: skip
    for y, lane in enumerate(lanes):
        rows = frame[frame["resource"] == lane]
        for kind, colour in _COLOURS.items():
            part = rows[rows["kind"] == kind]
            if len(part):
                spans = list(zip(part["start"], part["end"] - part["start"], strict=True))
                ax.broken_barh(spans, (y - 0.4, 0.8), facecolors=colour, label=kind)
    ax.set_yticks(range(len(lanes)), lanes)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(unique.values(), unique.keys(), loc="upper right")
    ax.set_title(title or "closim DES timeline")
    dram = frame[frame["resource"] == "dram"]
    if len(dram):
        edges = pd.concat(
            [
                pd.DataFrame({"t": dram["start"], "d": 1}),
                pd.DataFrame({"t": dram["end"], "d": -1}),
            ]
        ).sort_values(["t", "d"])
        busy = edges["d"].cumsum()
        ax_dram.step(edges["t"], busy, where="post", color=_COLOURS["transfer"])
        ax_dram.fill_between(edges["t"], busy, step="post", alpha=0.3, color=_COLOURS["transfer"])
    ax_dram.set_ylabel("DRAM channels busy")
    ax_dram.set_xlabel("cycle")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
