"""Figures of sweep results (``closim plot RESULTS``): line, bar and scatter plots of any two
columns, and three presets: speedup vs compression, a stacked energy breakdown, and a roofline.

Drawn with matplotlib's object API on an Agg canvas (no pyplot state, no display needed); the
file type follows the suffix of ``out`` (.png or .svg).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from closim.config.errors import did_you_mean
from closim.model.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# pandas and matplotlib (~0.5 s to import together) load inside the functions that call them, so
# that importing this module for KINDS / PRESETS / FIGURE_SUFFIXES stays cheap.

KINDS = ("line", "bar", "scatter")
PRESETS = ("speedup-vs-compression", "energy-breakdown", "roofline")
FIGURE_SUFFIXES = (".png", ".svg")
_LOG_SPAN = 20.0  # an axis whose positive values span more than this ratio is drawn log-scaled
_ENERGY_UNITS = (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3), ("pJ", 1.0))


def _require(frame: pd.DataFrame, column: str | None, option: str) -> None:
    """A ConfigError naming ``column`` and the available ones when ``frame`` lacks it."""
    if column is None or column in frame.columns:
        return
    columns = [str(c) for c in frame.columns]
    near = did_you_mean(column, columns)
    hint = f"; did you mean {near!r}?" if near else ""
    raise ConfigError(
        f"unknown column {column!r}{hint} available: {', '.join(columns)}", source=option
    )


def _ok_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The points that ran (status ok), or all rows of a table without a status column."""
    rows = frame[frame["status"] == "ok"] if "status" in frame.columns else frame
    if rows.empty:
        raise ConfigError("no successful points to plot", source="closim plot")
    return rows.reset_index(drop=True)


def _axis_columns(frame: pd.DataFrame) -> list[str]:
    """Sweep axes that vary: ``hw.*``, ``workload.*``, ``engine`` and ``mode`` columns with more
    than one value, leaving out columns fixed by an earlier one (the other lists of a zip)."""
    varying = [
        c
        for c in frame.columns
        if (str(c).startswith(("hw.", "workload.")) or c in ("engine", "mode"))
        and frame[c].astype(str).nunique() > 1
    ]
    kept: list[str] = []
    for column in varying:
        text = frame[column].astype(str)
        if kept and (text.groupby([frame[k].astype(str) for k in kept]).nunique() <= 1).all():
            continue  # determined by the columns kept so far: adds nothing to a label
        kept.append(column)
    return kept


def _short_names(columns: Sequence[str]) -> list[str]:
    """The shortest distinct dotted suffixes: ``hw.pe_array.rows`` -> ``rows``."""
    depth = 1
    while True:
        names = [".".join(str(c).split(".")[-depth:]) for c in columns]
        if len(set(names)) == len(names) or depth > max(str(c).count(".") for c in columns):
            return names
        depth += 1


def _labels(frame: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One text label per row: ``rows=64, batch=8`` (short names; the value alone for one
    column, whose full name titles the legend or axis)."""
    if len(columns) == 1:
        return frame[columns[0]].map(_fmt)
    names = _short_names(columns)
    pairs = list(zip(names, columns, strict=True))
    return frame.apply(lambda row: ", ".join(f"{n}={_fmt(row[c])}" for n, c in pairs), axis=1)


def _legend(ax: Axes, title: str | None) -> None:
    """The legend beside the axes, so that it never hides a point."""
    ax.legend(title=title or None, fontsize="small", title_fontsize="small",
              loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # fmt: skip


def _fmt(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _hue(
    frame: pd.DataFrame, hue: str | None, exclude: Sequence[str] = ()
) -> tuple[pd.Series | None, str]:
    """Labels that colour the series, and the legend title: ``hue`` when given, else the varying
    sweep axes other than ``exclude`` (None when nothing varies)."""
    if hue is not None:
        return frame[hue].map(_fmt), hue
    columns = [c for c in _axis_columns(frame) if c not in exclude]
    if not columns:
        return None, ""
    return _labels(frame, columns), "\n".join(columns)


def _colours(n: int) -> list[tuple[float, float, float, float]]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20" if n <= 20 else "viridis"]
    if n > 20:
        return [cmap(i / max(n - 1, 1)) for i in range(n)]
    return [cmap(i) for i in range(n)]


def _numeric(series: pd.Series) -> pd.Series | None:
    """The series as floats, or None when any value is not a number."""
    import pandas as pd  # lazy: see the note under the imports

    values = pd.to_numeric(series, errors="coerce")
    return values.astype(float) if values.notna().all() else None


def _auto_log(ax: Axes, values: pd.Series | None, axis: str) -> None:
    """Log scale for positive values spanning more than ``_LOG_SPAN``."""
    if values is None or values.empty or (values <= 0).any():
        return
    if values.max() / values.min() > _LOG_SPAN:
        (ax.set_xscale if axis == "x" else ax.set_yscale)("log")


def _groups(frame: pd.DataFrame, labels: pd.Series | None) -> list[tuple[str, pd.DataFrame]]:
    if labels is None:
        return [("", frame)]
    return [(str(k), g) for k, g in frame.groupby(labels, sort=False)]


def _plot_xy(ax: Axes, frame: pd.DataFrame, x: str, y: str, hue: str | None, kind: str) -> None:
    ys = _numeric(frame[y])
    if ys is None:
        raise ConfigError(f"column {y!r} holds values that are not numbers", source="--y")
    frame = frame.assign(_y=ys)
    labels, title = _hue(frame, hue, exclude=(x,))
    groups = _groups(frame, labels)
    colours = _colours(len(groups))
    xs = _numeric(frame[x])
    categories = sorted(frame[x].map(_fmt).unique(), key=_natural) if xs is None else None
    if kind == "bar":
        categories = categories or [_fmt(v) for v in sorted(xs.unique())]
        width = 0.8 / len(groups)
        for i, (label, group) in enumerate(groups):
            means = group.groupby(group[x].map(_fmt))["_y"].mean()
            pos = np.arange(len(categories)) + (i - (len(groups) - 1) / 2) * width
            heights = [means.get(c, np.nan) for c in categories]
            ax.bar(pos, heights, width=width, color=colours[i], label=label or None)
        ax.set_xticks(np.arange(len(categories)), categories, rotation=30, ha="right")
        _auto_log(ax, ys, "y")
    else:
        for i, (label, group) in enumerate(groups):
            if categories is not None:
                gx = group[x].map(_fmt).map({c: j for j, c in enumerate(categories)})
            else:
                gx = _numeric(group[x])
            order = np.argsort(gx.to_numpy(), kind="stable")
            px, py = gx.to_numpy()[order], group["_y"].to_numpy()[order]
            if kind == "line":
                ax.plot(px, py, marker="o", color=colours[i], label=label or None)
            else:
                ax.scatter(px, py, color=colours[i], label=label or None, s=36)
        if categories is not None:
            ax.set_xticks(np.arange(len(categories)), categories, rotation=30, ha="right")
        else:
            _auto_log(ax, xs, "x")
        _auto_log(ax, ys, "y")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    if labels is not None:
        _legend(ax, title)
    ax.grid(True, alpha=0.3)


def _natural(text: str) -> tuple[int, float | str]:
    """Sort key: numbers by value, then text."""
    try:
        return (0, float(text))
    except ValueError:
        return (1, text)


def _speedups(frame: pd.DataFrame) -> pd.DataFrame:
    """``speedup`` (dense cycles / cycles) and ``energy_gain`` (dense energy / energy) per point:
    from the ``ratios.*`` columns of a ``compare: true`` sweep, else against the dense point
    (compression 1) of the same non-topology axis values in the results."""
    if "ratios.cycles" in frame.columns and frame["ratios.cycles"].notna().all():
        return frame.assign(
            speedup=1.0 / frame["ratios.cycles"].astype(float),
            energy_gain=1.0 / frame["ratios.energy_pj"].astype(float),
        )
    keys = [c for c in _axis_columns(frame) if ".topology" not in c]
    dense = frame[np.isclose(frame["compression"].astype(float), 1.0)]
    if dense.empty:
        raise ConfigError(
            "speedup-vs-compression needs a dense point (compression 1) for each setting, or a "
            "sweep with compare: true (ratios.* columns)",
            source="--preset",
        )
    base = dense[[*keys, "cycles", "energy_pj"]].rename(
        columns={"cycles": "_dense_cycles", "energy_pj": "_dense_energy"}
    )
    base = base.drop_duplicates(subset=keys) if keys else base.iloc[:1]
    merged = frame.merge(base, on=keys, how="inner") if keys else frame.merge(base, how="cross")
    if merged.empty:
        raise ConfigError("no point shares its setting with a dense point", source="--preset")
    return merged.assign(
        speedup=merged["_dense_cycles"] / merged["cycles"],
        energy_gain=merged["_dense_energy"] / merged["energy_pj"],
    )


def _preset_speedup(fig: Figure, frame: pd.DataFrame, hue: str | None) -> None:
    for column in ("compression", "cycles", "energy_pj"):
        _require(frame, column, "--preset")
    data = _speedups(frame)
    topology = [c for c in _axis_columns(data) if ".topology" in c]
    labels, title = _hue(data, hue, exclude=topology)
    groups = _groups(data, labels)
    colours = _colours(len(groups))
    panels = (("speedup", "speedup (dense cycles / cycles)"),
              ("energy_gain", "energy saving (dense energy / energy)"))  # fmt: skip
    for n, (column, ylabel) in enumerate(panels):
        ax = fig.add_subplot(1, 2, n + 1)
        for i, (label, group) in enumerate(groups):
            ax.scatter(group["compression"], group[column], color=colours[i], s=40,
                       label=label or None, zorder=3)  # fmt: skip
            if topology and len(data) <= 40:
                for _, row in group.iterrows():
                    text = ",".join(f"{c.rsplit('.', 1)[-1]}={_fmt(row[c])}" for c in topology)
                    ax.annotate(text, (row["compression"], row[column]), fontsize=6,
                                xytext=(3, 3), textcoords="offset points")  # fmt: skip
        top = max(data["compression"].max(), data[column].max()) * 1.2
        low = min(data["compression"].min(), data[column].min(), 1.0) / 1.2
        ax.plot([low, top], [low, top], "--", color="0.5", lw=1, label="= compression")
        ax.axhline(1.0, color="0.3", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("compression (dense weights / weights)")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        _legend(ax, title)


def _energy_unit(values: np.ndarray) -> tuple[str, float]:
    peak = float(np.nanmax(values)) if values.size else 0.0
    return next(((u, s) for u, s in _ENERGY_UNITS if peak >= s), ("pJ", 1.0))


def _preset_energy(ax: Axes, frame: pd.DataFrame, x: str | None) -> None:
    import pandas as pd  # lazy: see the note under the imports

    parts = [c for c in frame.columns if str(c).startswith("energy_breakdown_pj.")]
    if not parts:
        _require(frame, "energy_breakdown_pj.mac", "--preset")
    axes = [x] if x else _axis_columns(frame)
    labels = _labels(frame, axes) if axes else pd.Series([str(i) for i in frame.index])
    values = frame[parts].astype(float).fillna(0.0)
    parts = [p for p in parts if (values[p] != 0).any()] or parts  # no empty legend entries
    values = values[parts]
    unit, scale = _energy_unit(values.sum(axis=1).to_numpy())
    colours = _colours(len(parts))
    pos = np.arange(len(frame))
    bottom = np.zeros(len(frame))
    for i, part in enumerate(parts):
        heights = values[part].to_numpy() / scale
        ax.bar(pos, heights, bottom=bottom, color=colours[i], label=part.split(".", 1)[1])
        bottom += heights
    ax.set_xticks(pos, labels.tolist(), rotation=45, ha="right", fontsize="small")
    ax.set_xlabel(", ".join(axes) if axes else "point")
    ax.set_ylabel(f"energy per step ({unit})")
    _legend(ax, "energy")
    ax.grid(True, axis="y", alpha=0.3)


def _preset_roofline(ax: Axes, frame: pd.DataFrame, hue: str | None) -> None:
    needed = ("arithmetic_intensity", "macs_per_cycle", "peak_macs_per_cycle",
              "dram_bytes_per_cycle")  # fmt: skip
    for column in needed:
        _require(frame, column, "--preset")
    data = frame.dropna(subset=list(needed))
    data = data[data["arithmetic_intensity"].astype(float) > 0]
    if data.empty:
        raise ConfigError("no point moved DRAM bytes: no roofline to draw", source="--preset")
    ai = data["arithmetic_intensity"].astype(float)
    grid = np.geomspace(ai.min() / 8, ai.max() * 8, 256)
    roofs = data[["peak_macs_per_cycle", "dram_bytes_per_cycle"]].astype(float)
    roof_set = sorted(set(map(tuple, roofs.to_numpy())))
    for peak, bandwidth in roof_set:
        ax.plot(grid, np.minimum(peak, grid * bandwidth), color="0.45", lw=1.2, zorder=1)
    # one label per bandwidth roof (its left end) and per compute roof (its right end)
    for bandwidth in sorted({b for _, b in roof_set}):
        peak = max(p for p, b in roof_set if b == bandwidth)
        y0 = min(peak, grid[0] * bandwidth)
        ax.annotate(f"{bandwidth:.3g} B/cycle", (grid[0], y0), fontsize=6, color="0.3",
                    xytext=(2, 3), textcoords="offset points", rotation=20)  # fmt: skip
    for peak in sorted({p for p, _ in roof_set}):
        ax.annotate(f"{peak:g} MACs/cycle", (grid[-1], peak), fontsize=6, color="0.3",
                    xytext=(-2, 3), textcoords="offset points", ha="right")  # fmt: skip
    # the roofs show the hardware; colours show the other axes
    hw_axes = [c for c in _axis_columns(data) if str(c).startswith("hw.")]
    labels, title = _hue(data, hue, exclude=hw_axes)
    groups = _groups(data, labels)
    colours = _colours(len(groups))
    for i, (label, group) in enumerate(groups):
        ax.scatter(group["arithmetic_intensity"].astype(float),
                   group["macs_per_cycle"].astype(float), color=colours[i], s=36,
                   label=label or None, zorder=3)  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (MACs per DRAM byte)")
    ax.set_ylabel("attained throughput (MACs per cycle)")
    ax.grid(True, which="both", alpha=0.3)
    if labels is not None:
        _legend(ax, title)


def plot_results(
    frame: pd.DataFrame,
    out: str | Path,
    *,
    x: str | None = None,
    y: str | None = None,
    hue: str | None = None,
    kind: str = "line",
    preset: str | None = None,
    title: str = "",
) -> None:
    """Draws sweep results to ``out`` (.png or .svg): ``y`` against ``x`` as a ``kind`` plot
    (line | bar | scatter), one colour per ``hue`` value (default: the other varying axes), or a
    ``preset``: ``speedup-vs-compression`` (speedup and energy saving vs compression, log-log),
    ``energy-breakdown`` (stacked bars of energy per step, by component) or ``roofline``
    (MACs per cycle vs MACs per DRAM byte, under each hw's compute and bandwidth roofs).
    Only points with status ok are drawn. Unknown columns are ConfigErrors listing the columns.
    """
    out = Path(out)
    if out.suffix.lower() not in FIGURE_SUFFIXES:
        raise ConfigError(f"expected a .png or .svg file (got {str(out)!r})", source="--out")
    if preset is not None and preset not in PRESETS:
        near = did_you_mean(preset, PRESETS)
        hint = f"; did you mean {near!r}?" if near else ""
        raise ConfigError(f"unknown preset{hint} presets: {', '.join(PRESETS)} (got {preset!r})",
                          source="--preset")  # fmt: skip
    if preset is None and kind not in KINDS:
        raise ConfigError(f"kind is one of {', '.join(KINDS)} (got {kind!r})", source="--kind")
    if preset is None and (x is None or y is None):
        raise ConfigError("needs x and y columns, or a preset", source="closim plot")
    for column, option in ((x, "--x"), (y, "--y"), (hue, "--hue")):
        _require(frame, column, option)
    from matplotlib.figure import Figure  # lazy: see the note under the imports

    rows = _ok_rows(frame)
    fig = Figure(figsize=(11, 5) if preset == "speedup-vs-compression" else (8, 5),
                 layout="constrained")  # fmt: skip
    if preset == "speedup-vs-compression":
        _preset_speedup(fig, rows, hue)
    elif preset == "energy-breakdown":
        _preset_energy(fig.add_subplot(), rows, x)
    elif preset == "roofline":
        _preset_roofline(fig.add_subplot(), rows, hue)
    else:
        assert x is not None and y is not None
        _plot_xy(fig.add_subplot(), rows, x, y, hue, kind)
    default = preset or f"{y} vs {x}"
    fig.suptitle(title or default)
    fig.savefig(out, format=out.suffix.lower()[1:], dpi=110)
