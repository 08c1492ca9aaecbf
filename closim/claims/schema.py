"""The claims file format: pydantic models of a claims file and the cross-key rules of a check.

What the keys mean is in ``closim.claims``; ``closim.claims.loader`` turns a validated file into
the records of ``closim.claims.records``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from closim.accounting.energy import BREAKDOWN_KEYS
from closim.accounting.metrics import SCALAR_KEYS
from closim.accounting.stats import STANDARD_LEVELS
from closim.config.errors import did_you_mean
from closim.config.validate import (
    NonNegativeFloat,
    PositiveFloat,
    PositiveInt,
    Schema,
    Text,
    known_engine,
)
from closim.lowering.program import ROLES
from closim.model.errors import ConfigError

SCALAR_METRICS = SCALAR_KEYS
SIM_METRICS: tuple[str, ...] = (
    *SCALAR_METRICS,
    *(f"energy_breakdown_pj.{k}" for k in BREAKDOWN_KEYS),
    *(f"traffic_bytes.{level}.{role}" for level in STANDARD_LEVELS for role in ROLES),
)
"""Totals keys of a simulation (docs/architecture.md §10), nested ones dotted;
``layers.NAME.KEY`` also works."""
TRAIN_METRICS = ("accuracy", "accuracy_std", "params", "seconds_per_epoch")
"""Metrics of a training run: accuracy and its std in percent (points), params, seconds."""
BOUNDS = ("at_most", "at_least", "below", "above", "between", "within")
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"

RunName = Annotated[str, Field(pattern=ID_PATTERN, max_length=100)]
Pair = Annotated[list[RunName], Field(min_length=2, max_length=2)]
Bound = Annotated[float, Field(ge=-1e300, le=1e300)]


class RunConfig(Schema):
    """One simulation a claim needs."""

    hw: Text | None = Field(
        None, description="hw config: a path relative to the claims file, or a bundled name"
    )
    workload: Text = Field(description="a path relative to the claims file, or a bundled name")
    mode: Literal["inference", "training"] | None = None
    engine: Text = "des"
    set: list[Text] | dict[str, Any] = Field(default_factory=list)

    _known_engine = field_validator("engine")(known_engine)


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
    dataset: Literal["digits", "mnist1d"] = Field(
        "digits", description="closim.train.DATASETS: digits, or MNIST-1D generated locally"
    )
    set: list[Text] | dict[str, Any] = Field(default_factory=list)


def _optional_engine(engine: str | None) -> str | None:
    """``engine`` if None or a registered engine's name (see ``known_engine``)."""
    return None if engine is None else known_engine(engine)


class ControlRunConfig(Schema):
    """A run of a control: the keys given replace the claim's run's; ``set`` is applied after
    the claim's run's own overrides."""

    hw: Text | None = None
    workload: Text | None = None
    mode: Literal["inference", "training"] | None = None
    engine: Text | None = None
    set: list[Text] | dict[str, Any] = Field(default_factory=list)

    _known_engine = field_validator("engine")(_optional_engine)


class ControlConfig(Schema):
    """A negative control: the claim with some of its runs (or training topologies) changed,
    for which the same checks must fail; a claim whose control holds does not discriminate."""

    id: RunName
    why: Text = Field(description="what the control changes, and why the check must fail on it")
    runs: dict[RunName, ControlRunConfig] = Field(default_factory=dict)
    topologies: dict[RunName, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _changes_something(self) -> ControlConfig:
        if bool(self.runs) == bool(self.topologies):
            raise ConfigError(
                "a control changes runs (of a simulation claim) or topologies (of a training "
                f"claim), exactly one of the two (got {'both' if self.runs else 'neither'})",
                key_path="runs",
            )
        return self


class CheckFields(Schema):
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
    confidence: Annotated[float, Field(gt=0, lt=1)] | None = Field(
        None,
        description="with within on a difference of accuracies: the paired t interval at this "
        "confidence must lie inside [-within, within]",
    )
    ideal: Text | None = Field(
        None,
        description="with ratio: [A, B]: the metric whose ratio is the ideal (e.g. macs); the "
        "check measures speedup efficiency, (ideal A/B) / (metric A/B)",
    )
    amdahl_fraction: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="the share f of the whole that the ratio applies to"
    )


class CheckConfig(CheckFields):
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


class ClaimConfig(CheckFields):
    """One claim: citation, runs (or a training run) and one check or ``checks``."""

    id: RunName
    text: Text
    source: Text = Field(description="the citation: paper, section or table")
    notes: Text = ""
    runs: dict[RunName, RunConfig] = Field(default_factory=dict)
    training: TrainingConfig | None = None
    across: AcrossConfig | None = None
    checks: list[CheckConfig] = Field(default_factory=list)
    controls: list[ControlConfig] = Field(default_factory=list)

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
        own = {k: getattr(self, k) for k in CheckFields.model_fields}
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
        _validate_controls(self.controls, names, training=self.training is not None)
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


def _validate_controls(controls: list[ControlConfig], names: list[str], *, training: bool) -> None:
    """Each control changes runs (or topologies) the claim has, and ids are unique."""
    seen: set[str] = set()
    for i, control in enumerate(controls):
        if control.id in seen:
            raise ConfigError(
                f"control ids must be unique (got {control.id!r} twice)",
                key_path=f"controls.{i}.id",
            )
        seen.add(control.id)
        key, changed = ("topologies", control.topologies) if training else ("runs", control.runs)
        other = "runs" if training else "topologies"
        if getattr(control, other):
            kind = "a training claim changes topologies" if training else (
                "a simulation claim changes runs")  # fmt: skip
            raise ConfigError(
                f"the control of {kind}, not {other} (got {other})",
                key_path=f"controls.{i}.{other}",
            )
        for name in changed:
            if name not in names:
                near = did_you_mean(name, names)
                hint = f"did you mean {near!r}? " if near else ""
                raise ConfigError(
                    f"names no entry of the claim's {key}; {hint}known: {', '.join(names)} "
                    f"(got {name!r})",
                    key_path=f"controls.{i}.{key}.{name}",
                )


def _validate_check(check: CheckFields, names: list[str], *, training: bool) -> None:
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
    if check.ideal is not None:
        ideal_metric = re.fullmatch(r"layers\.[^.]+\.(.+)", check.ideal)
        if (
            training
            or check.ratio is None
            or not (
                check.ideal in SIM_METRICS
                or (ideal_metric and ideal_metric.group(1) in SIM_METRICS)
            )
        ):
            raise ConfigError(
                "ideal names the totals key whose ratio A/B is the ideal (e.g. macs) of a "
                f"simulation claim's ratio: [A, B] (got {check.ideal!r})",
                key_path="ideal",
            )
        if check.amdahl_fraction is not None:
            raise ConfigError(
                "give ideal or amdahl_fraction, not both (got both)", key_path="amdahl_fraction"
            )
    if check.amdahl_fraction is not None and check.ratio is None:
        raise ConfigError(
            "amdahl_fraction turns a ratio of a part into the speedup of the whole: it needs "
            f"ratio: [A, B] (got {check.amdahl_fraction})",
            key_path="amdahl_fraction",
        )
    if check.confidence is not None and not (
        training and metric == "accuracy" and check.difference and check.within is not None
    ):
        raise ConfigError(
            "confidence asks the paired interval of a difference of accuracies to lie within "
            "+-within: it needs training, metric: accuracy, difference: [A, B] and within "
            f"(got {check.confidence:g})",
            key_path="confidence",
        )
    others = [b for b in BOUNDS if b != "within" and getattr(check, b) is not None]
    if check.confidence is not None and (others or check.within_spread):
        extra = others[0] if others else "within_spread"
        raise ConfigError(
            "a confidence check has one bound, within: the interval must lie inside +-within "
            f"(got {extra})",
            key_path=extra,
        )
    if check.within_spread and not (training and metric == "accuracy" and check.difference):
        raise ConfigError(
            "within_spread compares a difference of accuracies with their spread across folds "
            "and seeds: it needs training, metric: accuracy and difference: [A, B] (got true)",
            key_path="within_spread",
        )
