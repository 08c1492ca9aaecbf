"""Loading a validation suite: a directory of case files (plus an optional ``suite.yaml``) or one
case file, each validated against ``closim.validation.schema``; the configs a case names are
resolved (relative to its file, else bundled) and loaded with its overrides, so that a bad value
fails ``load_suite`` with its key path rather than the evaluation."""

from __future__ import annotations

from pathlib import Path

from closim.config.compose import Composed, compose, parse_patterns
from closim.config.errors import single_line_errors
from closim.config.loader import load_hw, load_model, load_workload
from closim.config.run_files import config_file, relocated, run_overrides
from closim.config.yaml_io import display_path, is_dir, is_file
from closim.model.errors import ConfigError
from closim.validation.records import Case, Run, Suite
from closim.validation.schema import (
    DEFAULT_TARGET_MAE_PCT,
    CaseConfig,
    CasesConfig,
    SuiteConfig,
)

SUITE_FILE = "suite.yaml"
"""The file of a validation directory that holds the suite's settings, not cases."""


def is_validation(path: str | Path) -> bool:
    """Whether ``path`` is a validation suite: a directory, or a YAML file with ``cases``
    (a claims file has ``claims``). A file that cannot be read is not one (the claims loader
    then reports why)."""
    p = Path(path)
    if is_dir(p):
        return True
    if not is_file(p):
        return False
    try:
        data = compose(p).data
    except ConfigError:
        return False
    return isinstance(data, dict) and "cases" in data


def _load_case(c: CaseConfig, composed: Composed, index: int, source: str) -> Case:
    prefix = ("cases", str(index), "run")
    sets = run_overrides(c.run.set, source, ".".join((*prefix, "set")))
    run = Run(
        hw=config_file(c.run.hw, "hw", composed, (*prefix, "hw"), source),
        workload=config_file(c.run.workload, "workload", composed, (*prefix, "workload"), source),
        mode=c.run.mode,
        engine=c.run.engine,
        hw_set=sets["hw"],
        workload_set=sets["workload"],
    )
    try:
        load_hw(run.hw, run.hw_set or None)
        load_workload(run.workload, run.workload_set or None)
    except ConfigError as err:
        raise relocated(err, source, ".".join((*prefix, "set"))) from None
    return Case(
        id=c.id,
        chip=c.chip,
        source=c.source,
        quantity=c.quantity,
        published=c.published,
        tolerance_pct=c.tolerance_pct,
        mapping=c.mapping,
        overhead_s=c.overhead_us * 1e-6,
        known_issue=c.known_issue,
        notes=c.notes,
        run=run,
        file=source,
    )


def _is_cases(composed: Composed) -> None:
    """Rejects another kind of file given where a case file belongs, by name."""
    data = composed.data
    if "cases" in data:
        return
    words = (("claims", "a claims file"), ("pe_array", "a hw config"), ("layers", "a workload"),
             ("grid", "a sweep"), ("target_mae_pct", f"a {SUITE_FILE}"))  # fmt: skip
    for key, word in words:
        if key in data:
            raise ConfigError(
                f"this is {word}, but a validation case file (with cases:) is expected (got "
                f"keys: {', '.join(map(str, data))})",
                source=composed.top,
            )


def load_cases(path: str | Path) -> tuple[str, tuple[Case, ...]]:
    """The description and validated cases of one case file."""
    loaded = load_model(
        path, CasesConfig, root="cases", replace_whole=parse_patterns(["cases"]), precheck=_is_cases
    )
    source = display_path(path)
    cases = tuple(
        _load_case(c, loaded.composed, i, source) for i, c in enumerate(loaded.model.cases)
    )
    return loaded.model.description, cases


@single_line_errors
def load_suite(path: str | Path) -> Suite:
    """The suite at ``path``: a directory (every ``*.yaml`` directly in it is a case file, except
    ``suite.yaml``, which sets ``target_mae_pct`` and ``description``; subdirectories are not
    read) or one case file (target: ``DEFAULT_TARGET_MAE_PCT``). Errors are one ConfigError
    ``FILE: cases.N.key.path: message (got X)``."""
    p = Path(path)
    source = display_path(p)
    if not is_dir(p):
        description, cases = load_cases(p)
        return Suite(source, description, DEFAULT_TARGET_MAE_PCT, cases)
    settings = SuiteConfig()
    if is_file(p / SUITE_FILE):
        settings = load_model(p / SUITE_FILE, SuiteConfig, root="suite").model
    files = sorted(f for f in p.glob("*.yaml") if f.name != SUITE_FILE and is_file(f))
    if not files:
        raise ConfigError(
            "no validation case files (*.yaml with cases:) in this directory (got none)",
            source=source,
        )
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for f in files:
        for i, case in enumerate(load_cases(f)[1]):
            if case.id in seen:
                raise ConfigError(
                    f"case ids must be unique in a suite; {seen[case.id]} has it too "
                    f"(got {case.id!r})",
                    source=case.file,
                    key_path=f"cases.{i}.id",
                )
            seen[case.id] = case.file
            cases.append(case)
    return Suite(source, settings.description, settings.target_mae_pct, tuple(cases))
