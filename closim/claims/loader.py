"""Loading a claims file: validates it against ``closim.claims.schema``, resolves the configs it
names (relative to the file, else bundled) and loads each with its overrides, so that a bad
value fails ``load_claims`` with its key path rather than the evaluation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from closim.claims.records import Check, Claim, ClaimsFile, Control, Run, Training
from closim.claims.schema import (
    AcrossConfig,
    CheckFields,
    ClaimsConfig,
    ControlConfig,
    RunConfig,
    TrainingConfig,
)
from closim.config.compose import Composed, parse_patterns
from closim.config.errors import single_line_errors
from closim.config.loader import load_hw, load_model, load_workload
from closim.config.run_files import config_file, relocated, run_overrides
from closim.config.yaml_io import display_path
from closim.model.errors import ConfigError

DATASET_SHAPES = {"digits": (64, 10), "mnist1d": (40, 10)}
"""Inputs and classes of each data set (closim.train.data), without generating it to check a
claims file's topologies."""


def _load_run(
    name: str, run: RunConfig, composed: Composed, prefix: tuple[str, ...], source: str
) -> Run:
    sets = run_overrides(run.set, source, ".".join((*prefix, "set")))
    hw = None
    if run.hw is not None:
        hw = config_file(run.hw, "hw", composed, (*prefix, "hw"), source)
    workload = config_file(run.workload, "workload", composed, (*prefix, "workload"), source)
    return Run(name, hw, workload, run.mode, run.engine, sets["hw"], sets["workload"])


def _load_training(
    t: TrainingConfig, composed: Composed, prefix: tuple[str, ...], source: str
) -> Training:
    """A claim's training run with its workload resolved and its overrides parsed."""
    key = ".".join((*prefix, "training"))
    return Training(
        workload=config_file(
            t.workload, "workload", composed, (*prefix, "training", "workload"), source
        ),
        workload_set=run_overrides(
            t.set, source, f"{key}.set", roots=("workload",), run="a training run"
        )["workload"],
        topologies=dict(t.topologies),
        epochs=t.epochs,
        folds=t.folds,
        seeds=t.seeds,
        optimizer=t.optimizer,
        learning_rate=t.learning_rate,
        hidden_only=t.hidden_only,
        dataset=t.dataset,
    )


def _load_across(
    across: AcrossConfig, composed: Composed, prefix: tuple[str, ...], source: str
) -> tuple[tuple[str, Path], ...]:
    """(name, file) of each accelerator a claim repeats on, in the file's order."""
    return tuple(
        (hw, config_file(hw, "hw", composed, (*prefix, "across", "hw", str(j)), source))
        for j, hw in enumerate(across.hw)
    )


def _load_control(
    control: ControlConfig, claim: Claim, composed: Composed, prefix: tuple[str, ...], source: str
) -> Control:
    """The claim with the control's runs (keys given replace the run's, ``set`` goes after the
    run's own overrides) or training topologies in place."""
    runs = dict(claim.runs)
    for name, change in control.runs.items():
        base, at = runs[name], (*prefix, "runs", name)
        sets = run_overrides(change.set, source, ".".join((*at, "set")))
        runs[name] = Run(
            name,
            config_file(change.hw, "hw", composed, (*at, "hw"), source) if change.hw else base.hw,
            config_file(change.workload, "workload", composed, (*at, "workload"), source)
            if change.workload
            else base.workload,
            change.mode or base.mode,
            change.engine or base.engine,
            {**base.hw_set, **sets["hw"]},
            {**base.workload_set, **sets["workload"]},
        )
    training = claim.training
    if training is not None:
        topologies = {**training.topologies, **control.topologies}
        training = dataclasses.replace(training, topologies=topologies)
    changed = dataclasses.replace(
        claim, id=f"{claim.id}/{control.id}", runs=runs, training=training, controls=()
    )
    return Control(control.id, control.why, changed)


def _check_loads(claim: Claim, source: str, prefix: str, *, control: bool = False) -> None:
    """Loads every config a claim's runs name with their overrides, so that a bad value fails
    ``load_claims`` (with its key path, under ``prefix``) rather than the evaluation."""
    for run in claim.runs.values():
        key = f"{prefix}.runs.{run.name}.set"
        hws = [path for _, path in claim.across_hw] or [run.hw]
        try:
            for hw in hws:
                load_hw(hw, run.hw_set or None)
            load_workload(run.workload, run.workload_set or None)
        except ConfigError as err:
            raise relocated(err, source, key) from None
    if claim.training is not None:
        from closim.train import mlp_layers

        t = claim.training
        try:
            workload = load_workload(t.workload, t.workload_set or None)
        except ConfigError as err:
            raise relocated(err, source, f"{prefix}.training.set") from None
        features, classes = DATASET_SHAPES[t.dataset]
        for name, spec in t.topologies.items():
            try:
                mlp_layers(workload, features, classes, spec, hidden_only=t.hidden_only)
            except ConfigError as err:
                raise ConfigError(
                    err.message,
                    source=source,
                    key_path=f"{prefix}{'' if control else '.training'}.topologies.{name}",
                ) from None


def _build_check(check: CheckFields, names: list[str]) -> Check:
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
        confidence=check.confidence,
        ideal=check.ideal,
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
            training = _load_training(c.training, composed, prefix, source)
        names = list(runs or (training.topologies if training else {}))
        across: tuple[tuple[str, Path], ...] = ()
        at_least = 0
        if c.across is not None:
            across = _load_across(c.across, composed, prefix, source)
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
        _check_loads(claim, source, f"claims.{i}")
        controls = []
        for j, control in enumerate(c.controls):
            at = (*prefix, "controls", str(j))
            loaded_control = _load_control(control, claim, composed, at, source)
            _check_loads(loaded_control.claim, source, ".".join(at), control=True)
            controls.append(loaded_control)
        claims.append(dataclasses.replace(claim, controls=tuple(controls)))
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
