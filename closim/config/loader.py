"""Loading config files: compose (extends) -> overrides -> validate -> build records.

``load_model`` is the generic pipeline (sweep and claims schemas reuse it); ``load_hw`` and
``load_workload`` add the factory step; ``resolved_config`` is what ``closim show`` prints.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from closim.config.build import build_accelerator, build_workload
from closim.config.catalog import resolve_path
from closim.config.compose import SET_ORIGIN, Composed, Pattern, compose, parse_patterns
from closim.config.errors import CrossKeyError, describe, single_line_errors
from closim.config.hw_schema import HwConfig
from closim.config.overrides import (
    ROOTS,
    apply_overrides,
    normalize_overrides,
    parse_set_options,
)
from closim.config.validate import validate
from closim.config.workload_schema import WorkloadConfig
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.model.workload import Workload

M = TypeVar("M", bound=BaseModel)

HW_REPLACE_WHOLE: tuple[Pattern, ...] = ()
WORKLOAD_REPLACE_WHOLE: tuple[Pattern, ...] = parse_patterns(["layers.*.topology"])

Overrides = Mapping[str, object] | Sequence[str] | None
"""``{"pe_array.rows": 64}``, ``{"hw.pe_array.rows": 64}``, ``parse_set_options`` output, or
raw ``--set`` strings (``["hw.pe_array.rows=64"]``)."""


@dataclass(frozen=True)
class Loaded(Generic[M]):
    """A validated model with the composed data it came from."""

    model: M
    composed: Composed
    root: str
    path: Path

    @property
    def default_name(self) -> str:
        """The file name without its suffix: the default ``name``."""
        return self.path.stem


@single_line_errors
def load_model(
    path: str | Path,
    model_cls: type[M],
    *,
    root: str,
    overrides: Overrides = None,
    replace_whole: Sequence[Pattern] = (),
    precheck: Callable[[Composed], None] | None = None,
) -> Loaded[M]:
    """Loads, composes, overrides and validates the file at ``path`` as ``model_cls``.

    ``root`` is the prefix of the file's keys in dotted paths ("hw", "workload", "sweep"...).
    Every failure is one ConfigError naming the file that wrote the bad value (or ``--set``).
    ``precheck`` may reject the composed file before validation (e.g. a file of the wrong kind).
    """
    composed = compose(path, replace_whole=replace_whole)
    if precheck is not None:
        precheck(composed)
    over = normalize_overrides(_as_mapping(overrides, root), root)
    final = apply_overrides(composed, over, root=root, replace_whole=replace_whole)
    try:
        model = validate(model_cls, final.data)
    except ConfigError as err:
        raise _locate(err, model_cls, composed, final, root, bool(over)) from None
    return Loaded(model, final, root, Path(path))


def _as_mapping(overrides: Overrides, root: str) -> Mapping[str, object] | None:
    if overrides is None or isinstance(overrides, Mapping):
        return overrides
    if isinstance(overrides, str):
        overrides = [overrides]
    sections = parse_set_options(list(overrides))
    for other in ROOTS:
        if other != root and sections[other]:
            path = next(iter(sections[other]))
            raise ConfigError(
                f"applies to a {other} config, not to this {root} config "
                f"(got {describe(sections[other][path])})",
                source=SET_ORIGIN,
                key_path=f"{other}.{path}",
            )
    return sections[root]


def _locate(
    err: ConfigError,
    model_cls: type[BaseModel],
    base: Composed,
    final: Composed,
    root: str,
    overridden: bool,
) -> ConfigError:
    """Places a validation error in the file (or ``--set``) that caused it: for a conflict
    between keys, the side written last."""
    alternatives = (
        err.alternatives if isinstance(err, CrossKeyError) else ((err.key_path or "", err.message),)
    )
    rank = {SET_ORIGIN: -1, **{f: i for i, f in reversed(list(enumerate(final.files)))}}
    choices = []
    for key_path, message in alternatives:
        key = _split_key(final.data, key_path)
        origin = final.find_origin(key)
        choices.append((rank.get(origin, len(rank)), key, origin or final.top, message))
    _, key, origin, message = min(choices, key=lambda c: c[0])
    if overridden and origin != SET_ORIGIN:
        try:  # a conflict that only the overrides cause
            validate(model_cls, base.data)
        except ConfigError:
            pass
        else:
            origin = SET_ORIGIN
    if origin == SET_ORIGIN:
        return ConfigError(message, source=SET_ORIGIN, key_path=".".join((root, *key)))
    return ConfigError(message, source=origin, key_path=".".join(key) or None)


def _split_key(data: Any, dotted: str) -> tuple[str, ...]:
    """A dotted error path as the keys it names in ``data`` (a key may itself contain dots)."""
    parts = dotted.split(".") if dotted else []
    out: list[str] = []
    node, i = data, 0
    while i < len(parts):
        if isinstance(node, dict):
            for j in range(len(parts), i, -1):
                candidate = ".".join(parts[i:j])
                if candidate in node:
                    out.append(candidate)
                    node, i = node[candidate], j
                    break
            else:
                break
        elif isinstance(node, list) and parts[i].isdigit() and int(parts[i]) < len(node):
            out.append(parts[i])
            node, i = node[int(parts[i])], i + 1
        else:
            break
    return (*out, *parts[i:])


def _not_a(root: str) -> Callable[[Composed], None]:
    """A precheck: a workload given where a hw config belongs (or the reverse) is named as such,
    rather than reported as a dozen unknown keys."""
    own, other, word = {
        "hw": ("pe_array", "layers", "a workload"),
        "workload": ("layers", "pe_array", "a hw config"),
    }[root]

    def check(composed: Composed) -> None:
        if other in composed.data and own not in composed.data:
            expected = "a hw config" if root == "hw" else "a workload"
            raise ConfigError(
                f"this is {word}, but {expected} is expected here "
                f"(got keys: {', '.join(map(str, composed.data))})",
                source=composed.top,
            )

    return check


@single_line_errors
def load_hw(path: str | Path, overrides: Overrides = None) -> Accelerator:
    """The Accelerator described by a hw config file (or bundled name such as ``tpu-v1``).

    ``overrides``: ``{"pe_array.rows": 64}`` or ``{"hw.pe_array.rows": 64}`` (see ``Overrides``).
    Energies the file leaves out are derived (``Accelerator.derived`` lists them).
    """
    loaded = load_model(
        resolve_path(path, "hw"), HwConfig, root="hw", overrides=overrides,
        replace_whole=HW_REPLACE_WHOLE, precheck=_not_a("hw"),
    )  # fmt: skip
    return build_accelerator(loaded.model, loaded.default_name)[0]


@single_line_errors
def load_workload(path: str | Path, overrides: Overrides = None) -> Workload:
    """The Workload described by a workload file (or bundled name such as ``alexnet-fc``).

    ``overrides``: ``{"batch": 8}``, ``{"workload.layers.fc7.topology": "dense"}``...
    """
    loaded = load_model(
        resolve_path(path, "workload"), WorkloadConfig, root="workload", overrides=overrides,
        replace_whole=WORKLOAD_REPLACE_WHOLE, precheck=_not_a("workload"),
    )  # fmt: skip
    return build_workload(loaded.model, loaded.default_name)


@single_line_errors
def detect_kind(path: str | Path) -> str:
    """The kind of a config file, hw or workload: by its folder, else by its keys."""
    p = Path(path)
    for kind, folder in (("hw", "hw_configs"), ("workload", "workloads")):
        if p.resolve().parent.name == folder:
            return kind
    data = compose(p).data
    common = {"name", "description", "source"}
    hw_keys = set(HwConfig.model_fields) - common
    wl_keys = set(WorkloadConfig.model_fields) - common
    score_hw, score_wl = len(hw_keys & set(data)), len(wl_keys & set(data))
    if score_hw != score_wl:
        return "hw" if score_hw > score_wl else "workload"
    raise ConfigError(
        "cannot tell a hw config (pe_array, sram, dram...) from a workload (batch, layers...); "
        f"pass --kind (got keys: {', '.join(map(str, data)) or 'none'})",
        source=str(path),
    )


@single_line_errors
def resolved_config(
    path: str | Path, kind: str = "auto", overrides: Overrides = None
) -> dict[str, Any]:
    """What ``closim show`` prints: the config fully resolved, as plain data.

    Keys: ``kind``, ``file``, ``extends`` (ancestor files), ``overrides``, ``config`` (every key,
    defaults and derived values filled in: a valid config file itself), ``derived`` (dotted path
    -> how closim derived it), ``defaults`` (keys no file gave, filled from the schema's default)
    and ``summary`` (totals closim computes from the config).
    """
    file = resolve_path(path, kind)
    if kind == "auto":
        kind = detect_kind(file)
    if kind == "hw":
        loaded: Loaded[Any] = load_model(
            file, HwConfig, root="hw", overrides=overrides, replace_whole=HW_REPLACE_WHOLE,
            precheck=_not_a("hw"),
        )  # fmt: skip
        hw, notes = build_accelerator(loaded.model, loaded.default_name)
        config = _hw_config(hw)
        summary: dict[str, Any] = {
            "total_pes": hw.total_pes,
            "peak_macs_per_s": hw.total_pes * hw.clock_mhz * 1e6,
            "dram_bytes_per_cycle": hw.dram_bytes_per_cycle,
            "dram_latency_cycles": hw.dram_latency_cycles,
            "on_chip_bytes": hw.sram.capacity_bytes
            + (hw.accumulator.capacity_bytes if hw.accumulator else 0),
        }
    else:
        loaded = load_model(
            file, WorkloadConfig, root="workload", overrides=overrides,
            replace_whole=WORKLOAD_REPLACE_WHOLE, precheck=_not_a("workload"),
        )  # fmt: skip
        wl = build_workload(loaded.model, loaded.default_name)
        notes = {}
        config = _workload_config(wl)
        summary = _workload_summary(wl)
    over = normalize_overrides(_as_mapping(overrides, kind), kind)
    return _plain(
        {
            "kind": kind,
            "file": loaded.composed.top,
            "extends": list(loaded.composed.files[1:]),
            "overrides": {".".join((kind, *k)): v for k, v in over.items()},
            "config": config,
            "derived": notes,
            "defaults": [p for p in _unset(loaded.model) if p not in notes],
            "summary": summary,
        }
    )


def _hw_config(hw: Accelerator) -> dict[str, Any]:
    data = dataclasses.asdict(hw)
    data["levels"] = [
        {
            "name": lv.name,
            "capacity_bytes": lv.capacity_bytes,
            # back to the config's units (the records hold per-cycle figures)
            "bandwidth_gb_per_s": round(lv.bytes_per_cycle * hw.clock_mhz / 1e3, 9),
            "latency_ns": round(lv.latency_cycles * 1e3 / hw.clock_mhz, 9),
            "burst_bytes": lv.burst_bytes,
            "read_pj_per_byte": lv.read_pj_per_byte,
            "write_pj_per_byte": lv.write_pj_per_byte,
        }
        for lv in hw.extra_levels
    ]
    return {key: data[key] for key in HwConfig.model_fields}


def _workload_config(wl: Workload) -> dict[str, Any]:
    data: dict[str, Any] = {key: getattr(wl, key) for key in WorkloadConfig.model_fields}
    data["layers"] = {
        layer.name: {
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "topology": layer.topology,
        }
        for layer in wl.layers
    }
    return data


def _workload_summary(wl: Workload) -> dict[str, Any]:
    from closim.topology import plan_layer

    layers: dict[str, Any] = {}
    total = dense_total = 0
    for layer in wl.layers:
        params = plan_layer(layer.topology, layer.in_features, layer.out_features).num_params
        dense = layer.in_features * layer.out_features
        total, dense_total = total + params, dense_total + dense
        layers[layer.name] = {
            "kind": layer.kind,
            "params": params,
            "dense_params": dense,
            "compression": round(dense / params, 3),
            "forward_macs": wl.batch * params,
        }
    return {
        "params": total,
        "dense_params": dense_total,
        "compression": round(dense_total / total, 3),
        "forward_macs": wl.batch * total,
        "layers": layers,
    }


def _unset(model: BaseModel, prefix: tuple[str, ...] = ()) -> list[str]:
    """Dotted paths of the fields no file or override gave (their schema default was used)."""
    out: list[str] = []
    for name in type(model).model_fields:
        here = (*prefix, name)
        value = getattr(model, name)
        if name not in model.model_fields_set:
            out.append(".".join(here))
        elif isinstance(value, BaseModel):
            out.extend(_unset(value, here))
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, BaseModel):
                    out.extend(_unset(item, (*here, str(key))))
    return out


def _plain(value: Any) -> Any:
    """Plain dicts, lists and scalars (for YAML and JSON output)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
