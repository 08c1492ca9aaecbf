"""Claim files: a paper's claims written as checks on closim's own numbers (``closim validate``).

A claims file (``claims/*.yaml``) lists claims. Each names its citation, the runs it needs and one
or more checks::

    claims:
      - id: size
        text: "A square Clos layer stores about 10x fewer weights than a dense one"
        source: "Isakov & Kinsy, arXiv:1802.03885, abstract"
        runs:
          clos:  {hw: tpu-v4, workload: ../workloads/closnet-1024-clos.yaml, mode: training}
          dense: {hw: tpu-v4, workload: closnet-1024, set: [workload.batch=8]}
        metric: weight_bytes
        ratio: [clos, dense]        # clos / dense; or value: clos, or difference: [clos, dense]
        at_most: 0.1                # and/or at_least, below, above, between: [lo, hi], within

A run is a simulation (``hw``, ``workload``: a path relative to the claims file or a bundled name;
``mode``; ``engine``, default des; ``set``: overrides as ``[PATH=VALUE, ...]`` or a mapping) and
its ``metric`` any totals key of ``closim run --format json``, dotted for nested ones
(``energy_breakdown_pj.dram``, ``traffic_bytes.dram.weights``), or ``layers.NAME.KEY``.
A claim may instead describe a ``training`` run (``closim.train``: workload, named
``topologies``, epochs, folds, seeds, optimizer, learning_rate) with the metrics ``accuracy``
(mean test accuracy in percent), ``accuracy_std`` (its standard deviation across folds and
seeds, in points), ``params`` and ``seconds_per_epoch``; ``within_spread: true`` on a
``difference`` of accuracies also requires the difference to be within the smaller of the two
standard deviations. ``checks: [...]`` lists several checks (all must hold) instead of one;
``across: {hw: [...], at_least: N}`` repeats the claim on each accelerator (replacing every run's
``hw``) and holds when it holds on at least N of them (default: all).

Simulations are cached in the sweep results store (``closim.sweep.store``) under the same key a
sweep uses (hash of the resolved hw and workload, engine, mode and closim's version), so a second
``closim validate`` simulates nothing, and a sweep and a claims file share results.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from closim.accounting.energy import BREAKDOWN_KEYS
from closim.accounting.stats import LEVELS
from closim.config.catalog import resolve_path
from closim.config.compose import Composed, parse_patterns
from closim.config.errors import did_you_mean, single_line_errors
from closim.config.loader import load_hw, load_model, load_workload
from closim.config.overrides import parse_set_options
from closim.config.validate import NonNegativeFloat, PositiveFloat, PositiveInt, Schema, Text
from closim.config.yaml_io import display_path
from closim.engines.registry import engine_names
from closim.lowering.program import ROLES
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.model.workload import Workload

Progress = Callable[[int, int, int], None]

SCALAR_METRICS = (
    "cycles", "compute_cycles", "critical_compute_cycles", "seconds", "macs", "array_macs",
    "pe_utilization", "stall_cycles", "energy_pj", "dram_read_bytes", "dram_write_bytes",
    "sram_read_bytes", "sram_write_bytes", "accumulator_read_bytes", "accumulator_write_bytes",
    "vector_ops", "peak_sram_bytes", "weight_bytes", "index_bytes", "footprint_bytes",
)  # fmt: skip
SIM_METRICS: tuple[str, ...] = (
    *SCALAR_METRICS,
    *(f"energy_breakdown_pj.{k}" for k in BREAKDOWN_KEYS),
    *(f"traffic_bytes.{level}.{role}" for level in LEVELS for role in ROLES),
)
"""Totals keys of a simulation (DESIGN §8), nested ones dotted; ``layers.NAME.KEY`` also works."""
TRAIN_METRICS = ("accuracy", "accuracy_std", "params", "seconds_per_epoch")
"""Metrics of a training run: accuracy and its std in percent (points), params, seconds."""
BOUNDS = ("at_most", "at_least", "below", "above", "between", "within")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"

RunName = Annotated[str, Field(pattern=ID_PATTERN, max_length=100)]
Pair = Annotated[list[RunName], Field(min_length=2, max_length=2)]
Bound = Annotated[float, Field(ge=-1e300, le=1e300)]


# The file format.
class RunConfig(Schema):
    """One simulation a claim needs."""

    hw: Text | None = Field(
        None, description="hw config: a path relative to the claims file, or a bundled name"
    )
    workload: Text = Field(description="a path relative to the claims file, or a bundled name")
    mode: Literal["inference", "training"] | None = None
    engine: Text = "des"
    set: list[Text] | dict[str, Any] = Field(default_factory=list)

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, engine: str) -> str:
        names = engine_names()
        if engine not in names:
            near = did_you_mean(engine, names)
            hint = f"; did you mean {near!r}?" if near else ""
            raise ValueError(f"expected one of {', '.join(names)}{hint}")
        return engine


class TrainingConfig(Schema):
    """The training run of an accuracy claim (``closim.train.train_topologies``)."""

    workload: Text = Field(description="a path relative to the claims file, or a bundled name")
    topologies: dict[RunName, Any] = Field(
        min_length=1, description="name -> topology spec of the hidden layers"
    )
    epochs: PositiveInt = 10
    folds: PositiveInt = 5
    seeds: PositiveInt = 2
    optimizer: Literal["sgd", "momentum", "adam"] | None = None
    learning_rate: PositiveFloat | None = None
    hidden_only: bool = True
    set: list[Text] | dict[str, Any] = Field(default_factory=list)


class _CheckFields(Schema):
    """What is measured (metric of a value, ratio or difference of runs) and its bounds."""

    metric: Text | None = None
    value: RunName | None = None
    ratio: Pair | None = None
    difference: Pair | None = None
    at_most: Bound | None = None
    at_least: Bound | None = None
    below: Bound | None = None
    above: Bound | None = None
    between: Annotated[list[Bound], Field(min_length=2, max_length=2)] | None = None
    within: NonNegativeFloat | None = None
    within_spread: bool = False
    amdahl_fraction: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="the share f of the whole that the ratio applies to"
    )


class CheckConfig(_CheckFields):
    """One check of a claim with several (``checks:``)."""

    metric: Text = Field(description="a totals key such as cycles, or accuracy for training")


class AcrossConfig(Schema):
    """Repeat a claim on several accelerators."""

    hw: Annotated[list[Text], Field(min_length=1)]
    at_least: PositiveInt | None = Field(None, description="how many must hold (default: all)")

    @model_validator(mode="after")
    def _count(self) -> AcrossConfig:
        if self.at_least is not None and self.at_least > len(self.hw):
            raise ConfigError(
                f"at_least is at most the {len(self.hw)} accelerators listed (got {self.at_least})",
                key_path="at_least",
            )
        return self


class ClaimConfig(_CheckFields):
    """One claim: citation, runs (or a training run) and one check or ``checks``."""

    id: RunName
    text: Text
    source: Text = Field(description="the citation: paper, section or table")
    notes: Text = ""
    runs: dict[RunName, RunConfig] = Field(default_factory=dict)
    training: TrainingConfig | None = None
    across: AcrossConfig | None = None
    checks: list[CheckConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ClaimConfig:
        if bool(self.runs) == (self.training is not None):
            raise ConfigError(
                "a claim measures either runs (simulations) or a training run, exactly one "
                f"of the two (got {'both' if self.runs else 'neither'})",
                key_path="runs" if self.runs else None,
            )
        if self.training is not None and self.across is not None:
            raise ConfigError(
                "across repeats simulations on several accelerators; a training claim has none "
                "(got across)",
                key_path="across",
            )
        if self.runs and self.across is None:
            for name, run in self.runs.items():
                if run.hw is None:
                    raise ConfigError(
                        "required key is missing: hw config (or give across.hw) (got nothing)",
                        key_path=f"runs.{name}.hw",
                    )
        names = list(self.runs or (self.training.topologies if self.training else {}))
        own = {k: getattr(self, k) for k in _CheckFields.model_fields}
        given = [k for k, v in own.items() if v is not None and v is not False]
        if self.checks and given:
            raise ConfigError(
                f"give one check (metric, ...) or a list of checks, not both (got {given[0]!r})",
                key_path=given[0],
            )
        if not self.checks and self.metric is None:
            raise ConfigError(
                "required key is missing: metric (or checks: a list of checks) (got nothing)",
                key_path="metric",
            )
        checks = [(f"checks.{i}", c) for i, c in enumerate(self.checks)] or [(None, self)]
        for prefix, check in checks:
            try:
                _validate_check(check, names, training=self.training is not None)
            except ConfigError as err:
                raise err.located(prefix=prefix) from None
        return self


class ClaimsConfig(Schema):
    """A claims file."""

    description: Text = ""
    db: Text | None = Field(None, description="the results store, relative to the claims file")
    claims: Annotated[list[ClaimConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> ClaimsConfig:
        seen: set[str] = set()
        for i, claim in enumerate(self.claims):
            if claim.id in seen:
                raise ConfigError(
                    f"claim ids must be unique (got {claim.id!r} twice)", key_path=f"claims.{i}.id"
                )
            seen.add(claim.id)
        return self


def _validate_check(check: _CheckFields, names: list[str], *, training: bool) -> None:
    """Cross-key rules of one check; ConfigError with the key path inside the check."""
    metric = check.metric or ""
    known = TRAIN_METRICS if training else SIM_METRICS
    layer_metric = re.fullmatch(r"layers\.[^.]+\.(.+)", metric)
    if metric not in known and not (
        not training and layer_metric and layer_metric.group(1) in SIM_METRICS
    ):
        near = did_you_mean(metric, known)
        hint = f"did you mean {near!r}? " if near else ""
        what = "a training metric" if training else "a totals key (or layers.NAME.KEY)"
        raise ConfigError(
            f"unknown metric, expected {what}; {hint}known: {', '.join(known)} (got {metric!r})",
            key_path="metric",
        )
    chosen = [k for k in ("value", "ratio", "difference") if getattr(check, k) is not None]
    if len(chosen) > 1:
        raise ConfigError(
            f"measure one of value, ratio or difference (got {' and '.join(chosen)})",
            key_path=chosen[1],
        )
    if not chosen and len(names) != 1:
        raise ConfigError(
            "with several runs, say what to measure: value: RUN, ratio: [A, B] or "
            f"difference: [A, B] (got runs {', '.join(names)})",
            key_path="value",
        )
    for key in chosen:
        refs = getattr(check, key)
        for i, ref in enumerate([refs] if isinstance(refs, str) else refs):
            if ref not in names:
                near = did_you_mean(ref, names)
                hint = f"did you mean {near!r}? " if near else ""
                where = "topologies" if training else "runs"
                raise ConfigError(
                    f"names no entry of {where}; {hint}known: {', '.join(names)} (got {ref!r})",
                    key_path=key if isinstance(refs, str) else f"{key}.{i}",
                )
    bounds = [b for b in BOUNDS if getattr(check, b) is not None]
    if not bounds and not check.within_spread:
        raise ConfigError(
            f"an expectation is missing: one of {', '.join(BOUNDS)} (got none)",
            key_path="at_most",
        )
    if check.between is not None and check.between[0] > check.between[1]:
        raise ConfigError(
            f"between is [low, high] with low <= high (got {check.between})", key_path="between"
        )
    if check.amdahl_fraction is not None and check.ratio is None:
        raise ConfigError(
            "amdahl_fraction turns a ratio of a part into the speedup of the whole: it needs "
            f"ratio: [A, B] (got {check.amdahl_fraction})",
            key_path="amdahl_fraction",
        )
    if check.within_spread and not (training and metric == "accuracy" and check.difference):
        raise ConfigError(
            "within_spread compares a difference of accuracies with their spread across folds "
            "and seeds: it needs training, metric: accuracy and difference: [A, B] (got true)",
            key_path="within_spread",
        )


# The validated claims, with paths resolved.
@dataclass(frozen=True)
class Run:
    """A simulation: config files, their overrides (paths without their root) and settings."""

    name: str
    hw: Path | None
    workload: Path
    mode: str | None
    engine: str
    hw_set: dict[str, Any] = field(default_factory=dict)
    workload_set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Training:
    """A training run: ``topologies`` maps a name to a spec of the hidden layers."""

    workload: Path
    workload_set: dict[str, Any]
    topologies: dict[str, Any]
    epochs: int
    folds: int
    seeds: int
    optimizer: str | None
    learning_rate: float | None
    hidden_only: bool

    def cache_key(self) -> str:
        """Equal training runs, equal text (one run serves every claim that needs it)."""
        return json.dumps(
            {**self.__dict__, "workload": str(self.workload)}, sort_keys=True, default=str
        )


@dataclass(frozen=True)
class Check:
    """``metric`` of one run (``value``), a ratio a/b or a difference a-b, and its bounds."""

    metric: str
    kind: str  # value | ratio | difference
    runs: tuple[str, ...]
    at_most: float | None = None
    at_least: float | None = None
    below: float | None = None
    above: float | None = None
    between: tuple[float, float] | None = None
    within: float | None = None
    within_spread: bool = False
    amdahl_fraction: float | None = None

    @property
    def measured_text(self) -> str:
        """``cycles clos/dense``: what is measured, in words."""
        op = {"value": "", "ratio": "/", "difference": "-"}[self.kind]
        text = f"{self.metric} {op.join(self.runs)}"
        if self.amdahl_fraction is not None:
            text = f"speedup of the whole (Amdahl, f={_number(self.amdahl_fraction)}) from {text}"
        return text

    @property
    def expected_text(self) -> str:
        """``cycles clos/dense < 1``: the check in words."""
        parts = []
        for key, symbol in (("at_most", "<="), ("at_least", ">="), ("below", "<"), ("above", ">")):
            bound = getattr(self, key)
            if bound is not None:
                parts.append(f"{symbol} {_number(bound)}")
        if self.between is not None:
            parts.append(f"in [{_number(self.between[0])}, {_number(self.between[1])}]")
        if self.within is not None:
            parts.append(f"within ±{_number(self.within)}")
        if self.within_spread:
            parts.append("within the smaller std")
        return f"{self.measured_text} {' and '.join(parts)}"

    def holds(self, measured: float) -> bool:
        """Whether ``measured`` meets every bound (``within_spread`` is judged by the caller)."""
        return all(
            (
                self.at_most is None or measured <= self.at_most,
                self.at_least is None or measured >= self.at_least,
                self.below is None or measured < self.below,
                self.above is None or measured > self.above,
                self.between is None or self.between[0] <= measured <= self.between[1],
                self.within is None or abs(measured) <= self.within,
            )
        )


@dataclass(frozen=True)
class Claim:
    """A validated claim. ``across_hw``: (name, file) of each accelerator it repeats on."""

    id: str
    text: str
    source: str
    notes: str
    runs: dict[str, Run]
    training: Training | None
    checks: tuple[Check, ...]
    across_hw: tuple[tuple[str, Path], ...] = ()
    at_least: int = 0


@dataclass(frozen=True)
class ClaimsFile:
    """A validated claims file: its claims and the results store that caches its simulations."""

    path: Path
    source: str
    name: str
    description: str
    db: Path
    claims: tuple[Claim, ...]


@dataclass
class ClaimResult:
    """The verdict on one claim: what was expected, what closim measured (None when it could not
    be measured) and ``detail`` (the runs' values behind a ratio, or why it failed)."""

    id: str
    text: str
    source: str
    expected: str
    measured: float | None
    verdict: str  # "PASS" | "FAIL"
    detail: str


def _number(value: float) -> str:
    """A bound or measurement, short: 0.1, 12,345, 1.23e+09."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if abs(value) >= 1e6 or (value and abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


# Loading.
def _config_file(
    value: str, kind: str, composed: Composed, key: tuple[str, ...], source: str
) -> Path:
    """A config named in a claims file: relative to the file that wrote it, else bundled."""
    near = Path(composed.origin(key)).parent / value
    if near.is_file():
        return near
    try:
        return resolve_path(value, kind)
    except ConfigError as err:
        raise ConfigError(err.message, source=source, key_path=".".join(key)) from None


def _overrides(
    given: list[str] | dict[str, Any], roots: Sequence[str], source: str, key: str
) -> dict[str, dict[str, Any]]:
    """``set`` as {root: {path-without-root: value}}; a bad entry is a ConfigError at ``key``."""
    try:
        if isinstance(given, list):
            sections = parse_set_options(given)
        else:
            sections = {"hw": {}, "workload": {}}
            for path, value in given.items():
                root, _, rest = str(path).partition(".")
                if root not in sections or not rest:
                    raise ConfigError(
                        f"a path starts with hw. or workload. and names a key below it "
                        f"(got {path!r})"
                    )
                sections[root][rest] = value
    except ConfigError as err:
        raise ConfigError(err.message, source=source, key_path=key) from None
    for root, section in sections.items():
        if section and root not in roots:
            path = next(iter(section))
            raise ConfigError(
                f"a training run takes workload overrides only (got {root}.{path})",
                source=source,
                key_path=key,
            )
    return sections


def _relocated(err: ConfigError, source: str, key: str) -> ConfigError:
    """An override's error (source ``--set``) placed at the run's ``set`` in the claims file;
    an error in a config file itself keeps its own location."""
    if err.source != "--set":
        return err
    inner = f"{err.key_path}: " if err.key_path else ""
    return ConfigError(f"{inner}{err.message}", source=source, key_path=key)


def _load_run(
    name: str, run: RunConfig, composed: Composed, prefix: tuple[str, ...], source: str
) -> Run:
    sets = _overrides(run.set, ("hw", "workload"), source, ".".join((*prefix, "set")))
    hw = None
    if run.hw is not None:
        hw = _config_file(run.hw, "hw", composed, (*prefix, "hw"), source)
    workload = _config_file(run.workload, "workload", composed, (*prefix, "workload"), source)
    return Run(name, hw, workload, run.mode, run.engine, sets["hw"], sets["workload"])


def _check_loads(claim: Claim, source: str, index: int) -> None:
    """Loads every config a claim's runs name with their overrides, so that a bad value fails
    ``load_claims`` (with its key path) rather than the evaluation."""
    for run in claim.runs.values():
        key = f"claims.{index}.runs.{run.name}.set"
        hws = [path for _, path in claim.across_hw] or [run.hw]
        try:
            for hw in hws:
                load_hw(hw, run.hw_set or None)
            load_workload(run.workload, run.workload_set or None)
        except ConfigError as err:
            raise _relocated(err, source, key) from None
    if claim.training is not None:
        from closim.train import mlp_layers

        t = claim.training
        try:
            workload = load_workload(t.workload, t.workload_set or None)
        except ConfigError as err:
            raise _relocated(err, source, f"claims.{index}.training.set") from None
        for name, spec in t.topologies.items():
            try:
                # digits: 64 inputs, 10 classes
                mlp_layers(workload, 64, 10, spec, hidden_only=t.hidden_only)
            except ConfigError as err:
                raise ConfigError(
                    err.message,
                    source=source,
                    key_path=f"claims.{index}.training.topologies.{name}",
                ) from None


def _build_check(check: _CheckFields, names: list[str]) -> Check:
    if check.ratio is not None:
        kind, runs = "ratio", tuple(check.ratio)
    elif check.difference is not None:
        kind, runs = "difference", tuple(check.difference)
    else:
        kind, runs = "value", (check.value or names[0],)
    return Check(
        metric=check.metric or "",
        kind=kind,
        runs=runs,
        at_most=check.at_most,
        at_least=check.at_least,
        below=check.below,
        above=check.above,
        between=None if check.between is None else (check.between[0], check.between[1]),
        within=check.within,
        within_spread=check.within_spread,
        amdahl_fraction=check.amdahl_fraction,
    )


@single_line_errors
def load_claims(path: str | Path) -> ClaimsFile:
    """The validated claims file at ``path``: every key checked (unknown keys with a
    did-you-mean), every config it names loaded with its overrides. Errors are one ConfigError
    ``FILE: claims.N.key.path: message (got X)``."""
    loaded = load_model(
        path,
        ClaimsConfig,
        root="claims",
        replace_whole=parse_patterns(["claims"]),
        precheck=_is_claims,
    )
    model, composed = loaded.model, loaded.composed
    source = display_path(path)
    claims = []
    for i, c in enumerate(model.claims):
        prefix = ("claims", str(i))
        runs = {
            name: _load_run(name, run, composed, (*prefix, "runs", name), source)
            for name, run in c.runs.items()
        }
        training = None
        if c.training is not None:
            t = c.training
            key = ".".join((*prefix, "training"))
            training = Training(
                workload=_config_file(
                    t.workload, "workload", composed, (*prefix, "training", "workload"), source
                ),
                workload_set=_overrides(t.set, ("workload",), source, f"{key}.set")["workload"],
                topologies=dict(t.topologies),
                epochs=t.epochs,
                folds=t.folds,
                seeds=t.seeds,
                optimizer=t.optimizer,
                learning_rate=t.learning_rate,
                hidden_only=t.hidden_only,
            )
        names = list(runs or (training.topologies if training else {}))
        across: tuple[tuple[str, Path], ...] = ()
        at_least = 0
        if c.across is not None:
            across = tuple(
                (hw, _config_file(hw, "hw", composed, (*prefix, "across", "hw", str(j)), source))
                for j, hw in enumerate(c.across.hw)
            )
            at_least = c.across.at_least or len(across)
        claim = Claim(
            id=c.id,
            text=c.text,
            source=c.source,
            notes=c.notes,
            runs=runs,
            training=training,
            checks=tuple(_build_check(check, names) for check in (c.checks or [c])),
            across_hw=across,
            at_least=at_least,
        )
        _check_loads(claim, source, i)
        claims.append(claim)
    db = Path(composed.origin(("db",))).parent / model.db if model.db else None
    p = Path(path)
    return ClaimsFile(
        path=p,
        source=source,
        name=p.stem,
        description=model.description,
        db=db or p.parent / f"{p.stem}.sqlite",
        claims=tuple(claims),
    )


def _is_claims(composed: Composed) -> None:
    """Rejects a hw config, workload or sweep given where a claims file belongs, by name."""
    data = composed.data
    if "claims" in data:
        return
    for key, word in (("pe_array", "a hw config"), ("layers", "a workload"), ("grid", "a sweep")):
        if key in data:
            raise ConfigError(
                f"this is {word}, but a claims file is expected (got keys: "
                f"{', '.join(map(str, data))})",
                source=composed.top,
            )


# Evaluation.
class _RunFailed(Exception):
    """A simulation that did not finish; its message says why."""


class _Runner:
    """Simulates runs through the results store: a run already stored (by an earlier
    ``closim validate`` or by a sweep that reached the same config) is read, not simulated."""

    def __init__(self, claims: ClaimsFile, db: Path) -> None:
        from closim.sweep.store import Store

        self.claims = claims
        self.store = Store(db)
        self.memo: dict[str, dict[str, Any]] = {}
        self.stored: dict[str, dict[str, Any]] | None = None
        self.simulated = 0
        self.trained: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.store.close()

    def _read_store(self) -> dict[str, dict[str, Any]]:
        """key -> {totals, layers} of every stored point that finished."""
        found = {}
        for row in self.store.rows():
            if row["status"] == "ok" and row["totals"]:
                found[row["key"]] = {
                    "totals": json.loads(row["totals"]),
                    "layers": json.loads(row["layers"] or "[]"),
                }
        return found

    def simulate(self, claim: Claim, run: Run, hw_file: Path | None) -> dict[str, Any]:
        """{totals, layers} of ``run`` (on ``hw_file`` when the claim repeats across hw)."""
        from closim.sweep.execute import Task, point_key, resolved_config, run_task
        from closim.sweep.store import Record

        hw: Accelerator = load_hw(hw_file or run.hw, run.hw_set or None)
        workload: Workload = load_workload(run.workload, run.workload_set or None)
        mode = run.mode or workload.mode
        key = point_key(hw, workload, run.engine, mode)
        if key in self.memo:
            return self.memo[key]
        if self.store.get(key) is not None:
            if self.stored is None or key not in self.stored:
                self.stored = self._read_store()
            if key in self.stored:
                self.memo[key] = self.stored[key]
                return self.memo[key]
        outcome = run_task(Task(key, hw, workload, run.engine, mode, False))
        self.simulated += 1
        if outcome["status"] != "ok":
            # not stored: a failure here is a bug or a limit to fix, and should be retried
            raise _RunFailed(f"run {run.name} on {hw.name} failed: {outcome['error']}")
        meta = {
            **outcome["meta"],
            "closim_version": _version(),
            "sweep_file": self.claims.source,
        }
        self.store.insert(
            Record(
                key=key,
                sweep=f"claims:{self.claims.name}",
                point_index=len(self.memo),
                axes={"claim": claim.id, "run": run.name},
                status="ok",
                error=None,
                totals=outcome["totals"],
                extra=outcome["extra"],
                layers=outcome["layers"],
                config=resolved_config(hw, workload),
                meta=meta,
            )
        )
        self.memo[key] = {"totals": outcome["totals"], "layers": outcome["layers"]}
        return self.memo[key]

    def train(self, training: Training) -> dict[str, Any]:
        """name -> TrainResult of the training run (trained once per evaluation)."""
        from closim.train import train_topologies

        key = training.cache_key()
        if key not in self.trained:
            workload = load_workload(training.workload, training.workload_set or None)
            names = list(training.topologies)
            results = train_topologies(
                workload,
                [training.topologies[n] for n in names],
                epochs=training.epochs,
                folds=training.folds,
                seeds=training.seeds,
                optimizer=training.optimizer,
                learning_rate=training.learning_rate,
                hidden_only=training.hidden_only,
            )
            self.trained[key] = dict(zip(names, results, strict=True))
        return self.trained[key]


def _version() -> str:
    from closim.model.version import VERSION

    return VERSION


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


def _measure(
    check: Check, values: Mapping[str, float], spreads: Mapping[str, float]
) -> tuple[float | None, bool, str]:
    """(measured or None, holds, note) of ``check`` given each run's value of its metric."""
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
    if check.amdahl_fraction is not None:
        # Amdahl: the part (share f of the time) takes `ratio` of its time, the rest is unchanged
        f = check.amdahl_fraction
        note = f"{check.metric} ratio {_number(measured)}"
        measured = 1.0 / ((1.0 - f) + f * measured)
    if not math.isfinite(measured):
        return None, False, f"{check.measured_text} is not a finite number"
    holds = check.holds(measured)
    if check.within_spread:
        holds = holds and abs(measured) <= min(spreads[name] for name in check.runs)
        note = "std " + ", ".join(f"{name} {spreads[name]:.2f}" for name in check.runs)
    return measured, holds, note


def _evaluate_once(
    claim: Claim, runner: _Runner, hw_file: Path | None
) -> tuple[list[Outcome], dict[str, dict[str, float]]]:
    """Each check's outcome, and metric -> run -> value, for one accelerator (or the runs' own
    hw)."""
    outcomes: list[Outcome] = []
    table: dict[str, dict[str, float]] = {}
    trained = runner.train(claim.training) if claim.training is not None else None
    results: dict[str, dict[str, Any]] = {}
    for check in claim.checks:
        spreads: dict[str, float] = {}
        if trained is not None:
            values = {name: _train_metric(trained[name], check.metric) for name in check.runs}
            spreads = {name: 100.0 * trained[name].accuracy_std for name in check.runs}
        else:
            for name in check.runs:
                if name not in results:
                    results[name] = runner.simulate(claim, claim.runs[name], hw_file)
            values = {name: sim_metric(results[name], check.metric) for name in check.runs}
        table.setdefault(check.metric, {}).update(values)
        outcomes.append((check, *_measure(check, values, spreads)))
    return outcomes, table


def _detail(outcomes: list[Outcome], table: Mapping[str, Mapping[str, float]]) -> str:
    """``cycles: clos 1,234, dense 5,678; fails: ...``: the runs' values behind the checks."""
    parts = [
        f"{metric}: " + ", ".join(f"{run} {_number(v)}" for run, v in values.items())
        for metric, values in table.items()
    ]
    parts += [note for _, _, _, note in outcomes if note]
    parts += [f"fails: {check.expected_text}" for check, _, holds, _ in outcomes if not holds]
    return "; ".join(dict.fromkeys(parts))


def _evaluate(claim: Claim, runner: _Runner) -> ClaimResult:
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
                f"{c.metric} {'n/a' if m is None else _number(m)}" for c, m, _, _ in outcomes
            )
            parts.append(f"{name}: {values}{'' if ok else ' (fails)'}")
        total = len(claim.across_hw)
        expected_across = f"{expected}; on >= {claim.at_least} of {total} hw"
        # measured: on how many accelerators the claim holds
        return result(float(held), held >= claim.at_least, "; ".join(parts), expected_across)
    except (_RunFailed, ConfigError) as err:
        return result(None, False, str(err))


def evaluate_claims(
    claims: ClaimsFile,
    *,
    db: str | Path | None = None,
    on_progress: Progress | None = None,
) -> list[ClaimResult]:
    """Evaluates every claim, in file order. Simulations go through the results store ``db``
    (default: the claims file's ``db``, else ``<name>.sqlite`` next to it): stored runs are
    reused, new ones stored. ``on_progress(done, total, failed)`` counts claims. A claim that
    cannot be measured (a run failed) is a FAIL whose ``detail`` says why."""
    runner = _Runner(claims, Path(db) if db is not None else claims.db)
    results: list[ClaimResult] = []
    total = len(claims.claims)
    try:
        if on_progress is not None:
            on_progress(0, total, 0)
        for claim in claims.claims:
            results.append(_evaluate(claim, runner))
            if on_progress is not None:
                failed = sum(r.verdict != "PASS" for r in results)
                on_progress(len(results), total, failed)
    finally:
        runner.close()
    return results


__all__ = [
    "SIM_METRICS",
    "TRAIN_METRICS",
    "Check",
    "Claim",
    "ClaimResult",
    "ClaimsConfig",
    "ClaimsFile",
    "Run",
    "Training",
    "evaluate_claims",
    "load_claims",
    "sim_metric",
]
