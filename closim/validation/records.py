"""The validated suite, with paths resolved, and the verdict on each case: dataclasses that
``load_suite`` builds and ``evaluate_suite`` fills in."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Run:
    """A simulation: config files, their overrides (paths without their root) and settings."""

    hw: Path
    workload: Path
    mode: str | None
    engine: str
    hw_set: dict[str, Any] = field(default_factory=dict)
    workload_set: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One published measurement: ``published`` in ``quantity``'s unit (seconds, cycles, or
    1e12 operations per second), the run closim compares with it, and the pass band."""

    id: str
    chip: str
    source: str
    quantity: str
    published: float
    tolerance_pct: float
    mapping: str
    overhead_s: float
    known_issue: str | None
    notes: str
    run: Run
    file: str  # the case file, as written in messages


@dataclass(frozen=True)
class Suite:
    """Every case of a validation directory (or of one case file) and the suite's MAE target."""

    source: str
    description: str
    target_mae_pct: float
    cases: tuple[Case, ...]


@dataclass(frozen=True)
class CaseResult:
    """closim's value of a case's quantity and its error against the published number:
    ``error_pct = (closim - published) / published x 100``. ``verdict``: PASS (|error| within the
    tolerance), FAIL, or KNOWN (a known issue: reported, outside the suite's verdict)."""

    case: Case
    closim: float
    error_pct: float
    verdict: str

    @property
    def abs_error_pct(self) -> float:
        """|error| in percent."""
        return abs(self.error_pct)


@dataclass(frozen=True)
class SuiteResult:
    """Every case's result, the mean absolute error over the cases that count (known issues
    left out; ``mae_all_pct`` includes them) and the suite's verdict: PASS when no counted case
    is beyond its tolerance and the MAE is within the target."""

    suite: Suite
    results: tuple[CaseResult, ...]
    mae_pct: float
    mae_all_pct: float
    verdict: str

    @property
    def counted(self) -> tuple[CaseResult, ...]:
        """The results that count towards the verdict (known issues excluded)."""
        return tuple(r for r in self.results if r.verdict != "KNOWN")
