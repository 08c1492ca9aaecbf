"""Rendering of results as text: rich tables for people, JSON and YAML for programs."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from rich.table import Table

# rich (~0.1 s to import) loads inside the functions that draw tables, so that JSON and CSV output
# (to_json, and the callers that pick a format before drawing) never pay for it.


def table_text(table: Table, *, width: int = 140) -> str:
    """A rich table rendered to plain text (no colour codes), as the terminal would show it."""
    from rich.console import Console  # lazy: see the note under the imports

    buffer = io.StringIO()
    Console(file=buffer, width=width, force_terminal=False, color_system=None).print(table)
    return buffer.getvalue()


def to_json(data: Any) -> str:
    """JSON with stable key order as produced, two-space indent."""
    return json.dumps(data, indent=2)


def _si(value: float) -> str:
    """A count with thousands separators, or a short float."""
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _stage_text(stages: Sequence[dict[str, Any]]) -> str:
    parts = []
    for s in stages:
        shuffle = f" -> perm{tuple(s['permutation_after'])}" if s["permutation_after"] else ""
        parts.append(f"{s['name']}: {s['blocks']}x({s['block_in']}x{s['block_out']}){shuffle}")
    return "\n".join(parts)


def render_topology_summary(summary: dict[str, Any], fmt: str) -> str:
    """``closim topology`` output: a two-column table (topology, dense) or the summary as JSON."""
    if fmt == "json":
        return to_json(summary)
    from rich.table import Table  # lazy: see the note under the imports

    topo, dense = summary["topology"], summary["dense"]
    table = Table(
        title=f"{summary['in_features']} -> {summary['out_features']}: {topo['spec']} vs dense"
    )
    table.add_column("")
    table.add_column(topo["kind"], justify="right")
    table.add_column("dense", justify="right")
    rows: list[tuple[str, str, str]] = [
        ("parameters", _si(topo["params"]), _si(dense["params"])),
        ("compression (dense / this)", f"{topo['compression']:.2f}x", "1.00x"),
        ("index bytes", _si(topo["index_bytes"]), _si(dense["index_bytes"])),
        ("MACs per sample", _si(topo["macs_per_sample"]), _si(dense["macs_per_sample"])),
    ]
    if "paths_min" in topo:
        rows.append(
            (
                "paths per input-output pair (min/max)",
                f"{topo['paths_min']} / {topo['paths_max']}",
                f"{dense['paths_min']} / {dense['paths_max']}",
            )
        )
    rows.append(("stages", _stage_text(topo["stages"]), _stage_text(dense["stages"])))
    for row in rows:
        table.add_row(*row)
    return table_text(table)


def render_bundled(entries: Iterable[Any], fmt: str) -> str:
    """``closim list``: bundled hw configs and workloads with their one-line descriptions."""
    entries = list(entries)
    if fmt == "json":
        return to_json(
            [
                {"kind": e.kind, "name": e.name, "path": str(e.path), "description": e.description}
                for e in entries
            ]
        )
    from rich.table import Table  # lazy: see the note under the imports

    table = Table(title="bundled configs")
    for column in ("kind", "name", "description", "path"):
        table.add_column(column)
    for e in entries:
        table.add_row(e.kind, e.name, e.description, str(e.path))
    return table_text(table, width=200)


def render_resolved_config(resolved: dict[str, Any], fmt: str) -> str:
    """``closim show``: the resolved config as YAML (default) or JSON."""
    if fmt == "json":
        return to_json(resolved)
    return yaml.safe_dump(resolved, sort_keys=False, default_flow_style=None, width=100)


def _bytes(n: float) -> str:
    """Bytes in binary units (KiB, MiB, GiB)."""
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= scale:
            return f"{n / scale:,.2f} {unit}"
    return f"{int(n)} B"


_RUN_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("cycles", "cycles", _si),
    ("compute_cycles", "compute cycles", _si),
    ("stall_cycles", "stall cycles", _si),
    ("macs", "MACs", _si),
    ("pe_utilization", "PE util.", lambda v: f"{v:.1%}"),
    ("energy_pj", "energy (uJ)", lambda v: f"{v / 1e6:,.2f}"),
    ("average_power_w", "power (W)", lambda v: f"{v:,.3g}"),
    ("dram_read_bytes", "DRAM read", _bytes),
    ("dram_write_bytes", "DRAM write", _bytes),
    ("sram_read_bytes", "SRAM read", _bytes),
    ("peak_sram_bytes", "peak SRAM", _bytes),
    ("weight_bytes", "weights", _bytes),
    ("index_bytes", "indices", _bytes),
    ("footprint_bytes", "footprint", _bytes),
)


def render_run(data: dict[str, Any]) -> str:
    """``closim run`` as a table: one row per layer and a total row."""
    from rich.table import Table  # lazy: see the note under the imports

    table = Table(
        title=(
            f"{data['workload']} on {data['hw']}: {data['mode']}, batch {data['batch']}, "
            f"{data['engine']} engine, {data['totals']['seconds'] * 1e6:,.1f} us"
        )
    )
    table.add_column("layer")
    table.add_column("topology")
    for _, title, _ in _RUN_COLUMNS:
        table.add_column(title, justify="right")
    for layer in data["layers"]:
        table.add_row(layer["name"], layer["topology"], *(f(layer[k]) for k, _, f in _RUN_COLUMNS))
    table.add_row("total", "", *(f(data["totals"][k]) for k, _, f in _RUN_COLUMNS), style="bold")
    breakdown = data["totals"]["energy_breakdown_pj"]
    total = sum(breakdown.values()) or 1.0
    energy = ", ".join(f"{k} {v / total:.0%}" for k, v in breakdown.items())
    t = data["totals"]
    power = (
        f"power: {t['average_power_w']:,.3g} W average over the step, "
        f"{t['idle_power_w']:,.3g} W idle (static)"
    )
    return table_text(table, width=230) + f"energy breakdown: {energy}\n{power}\n"


_COMPARE_ROWS: tuple[tuple[str, Any], ...] = (
    ("cycles", _si),
    ("seconds", lambda v: f"{v * 1e6:,.2f} us"),
    ("energy_pj", lambda v: f"{v / 1e6:,.2f} uJ"),
    ("macs", _si),
    ("pe_utilization", lambda v: f"{v:.1%}"),
    ("dram_read_bytes", _bytes),
    ("dram_write_bytes", _bytes),
    ("weight_bytes", _bytes),
    ("index_bytes", _bytes),
    ("footprint_bytes", _bytes),
    ("peak_sram_bytes", _bytes),
)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else "-"


def render_compare(data: dict[str, Any]) -> str:
    """``closim compare`` as tables: totals (as written, dense, ratio) and per-layer ratios."""
    from rich.table import Table  # lazy: see the note under the imports

    t = data["totals"]
    table = Table(
        title=(
            f"{data['workload']} on {data['hw']}: {data['mode']}, batch {data['batch']}, "
            f"{data['engine']} engine; ratio = as written / dense"
        )
    )
    for column in ("metric", "as written", "dense", "ratio"):
        table.add_column(column, justify="right" if column != "metric" else "left")
    for key, fmt in _COMPARE_ROWS:
        w, d = t["as_written"][key], t["dense"][key]
        table.add_row(key, fmt(w), fmt(d), _ratio(w, d))
    layers = Table(title="per layer, as written / dense")
    layers.add_column("layer")
    layers.add_column("topology")
    for key in ("cycles", "energy_pj", "macs", "weight_bytes", "dram_read_bytes"):
        layers.add_column(key, justify="right")
    for layer in data["layers"]:
        r = layer["ratios"]
        layers.add_row(
            layer["name"],
            layer["topology"],
            *(
                f"{r[k]:.3f}"
                if r.get(k) is not None
                else _ratio(layer["as_written"][k], layer["dense"][k])
                for k in ("cycles", "energy_pj", "macs", "weight_bytes", "dram_read_bytes")
            ),
        )
    return table_text(table) + table_text(layers)


def render_explain(mappings: Sequence[Any], title: str) -> str:
    """``--explain``: the mapper's choice per GEMM (``GemmMapping`` records)."""
    from rich.table import Table  # lazy: see the note under the imports

    table = Table(title=title)
    columns = (
        ("GEMM", lambda m: f"{m['layer']}.s{m['stage']} {m['pass']}"),
        ("blocks x (MxKxN)", lambda m: f"{m['blocks']}x({m['m']}x{m['k']}x{m['n']})"),
        ("stationary", lambda m: f"{m['stationary']} ({m['orientation']})"),
        ("arrays", lambda m: str(m["arrays_used"])),
        ("blocks/fold", lambda m: str(m["blocks_per_fold"])),
        ("folds", lambda m: _si(m["folds"])),
        ("tile b,m,k,n", lambda m: "{blocks},{m},{k},{n}".format(**m["tile"])),
        ("order", lambda m: m["loop_order"]),
        ("tiles", lambda m: _si(m["tiles"])),
        ("compute cyc", lambda m: _si(m["compute_cycles"])),
        ("busiest array", lambda m: _si(m["busiest_array_cycles"])),
        ("DRAM r/w", lambda m: f"{_bytes(m['dram_read_bytes'])} / {_bytes(m['dram_write_bytes'])}"),
        ("SRAM r/w", lambda m: f"{_bytes(m['sram_read_bytes'])} / {_bytes(m['sram_write_bytes'])}"),
        ("on chip", lambda m: ", ".join(sorted(set(m["resident"]) | set(m["pinned"]))) or "-"),
    )
    left = ("GEMM", "stationary", "on chip")
    for name, _ in columns:
        table.add_column(name, justify="left" if name in left else "right")
    for m in (x.to_dict() for x in mappings):
        table.add_row(*(f(m) for _, f in columns))
    return table_text(table, width=260)


def render_execute(entries: Sequence[dict[str, Any]]) -> str:
    """``--execute``: per layer, how far the replayed tiles are from the layer math."""
    from rich.table import Table  # lazy: see the note under the imports

    table = Table(title="trace replay vs layer math (largest relative difference)")
    for column in ("layer", "output", "input gradient", "weight gradients", "verdict"):
        table.add_column(column, justify="left" if column == "layer" else "right")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2e}"

    for e in entries:
        table.add_row(
            e["layer"], fmt(e["forward"]), fmt(e["grad_input"]), fmt(e["grad_weights"]),
            "ok" if e["ok"] else "DIFFERS",
        )  # fmt: skip
    return table_text(table)
