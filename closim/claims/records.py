"""The validated claims, with paths resolved, and the verdict on each: frozen dataclasses that
``load_claims`` builds and ``evaluate_claims`` reads."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


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
    dataset: str = "digits"

    def topology_key(self, name: str) -> str:
        """Equal settings and an equal spec for topology ``name``, equal text: one trained
        topology serves every claim and control that trains it."""
        settings = {**self.__dict__, "workload": str(self.workload), "topologies": None}
        return json.dumps({**settings, "spec": self.topologies[name]}, sort_keys=True, default=str)


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
    confidence: float | None = None  # paired interval of an accuracy difference inside ±within
    ideal: str | None = None  # speedup efficiency: (ideal a/b) / (metric a/b)
    amdahl_fraction: float | None = None

    @property
    def measured_text(self) -> str:
        """``cycles clos/dense``: what is measured, in words."""
        op = {"value": "", "ratio": "/", "difference": "-"}[self.kind]
        text = f"{self.metric} {op.join(self.runs)}"
        if self.ideal is not None:
            a, b = self.runs
            text = (f"speedup efficiency of {a} over {b} ({self.metric} speedup / "
                    f"{self.ideal} ratio {b}/{a})")  # fmt: skip
        if self.amdahl_fraction is not None:
            fraction = number_text(self.amdahl_fraction)
            text = f"speedup of the whole (Amdahl, f={fraction}) from {text}"
        return text

    @property
    def expected_text(self) -> str:
        """``cycles clos/dense < 1``: the check in words."""
        parts = []
        for key, symbol in (("at_most", "<="), ("at_least", ">="), ("below", "<"), ("above", ">")):
            bound = getattr(self, key)
            if bound is not None:
                parts.append(f"{symbol} {number_text(bound)}")
        if self.between is not None:
            parts.append(f"in [{number_text(self.between[0])}, {number_text(self.between[1])}]")
        if self.within is not None and self.confidence is not None:
            parts.append(f"within ±{number_text(self.within)} ({self.confidence:.0%} interval)")
        elif self.within is not None:
            parts.append(f"within ±{number_text(self.within)}")
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
    controls: tuple[Control, ...] = ()


@dataclass(frozen=True)
class Control:
    """A negative control of a claim: ``claim`` is the claim with the control's runs (or
    training topologies) in place, judged by the same checks, which must fail on it."""

    id: str
    why: str
    claim: Claim


@dataclass(frozen=True)
class ClaimsFile:
    """A validated claims file: its claims and the results store that caches its simulations."""

    path: Path
    source: str
    name: str
    description: str
    db: Path
    claims: tuple[Claim, ...]


VERDICTS = ("PASS", "FAIL", "INCONCLUSIVE", "UNDECIDED")
"""PASS: the checks hold on both engines and every control fails them; FAIL: the checks fail
on both engines; INCONCLUSIVE: they hold, but a control holds too (or its engines disagree), so
the check does not tell the claim from its control; UNDECIDED: the engines disagree on the side
of a threshold."""


@dataclass
class ControlResult:
    """A control's outcome: ``verdict`` FAIL is what a control must give (the check can fail);
    PASS or UNDECIDED make its claim INCONCLUSIVE."""

    id: str
    why: str
    verdict: str
    measured: float | None
    detail: str


@dataclass
class ClaimResult:
    """The verdict on one claim: what was expected, what closim measured (None when it could not
    be measured) and ``detail`` (the runs' values behind a ratio, or why it failed).
    ``engines``: the checks' outcome (PASS or FAIL) per engine, empty for a training claim;
    ``controls``: each control's outcome."""

    id: str
    text: str
    source: str
    expected: str
    measured: float | None
    verdict: str  # one of VERDICTS
    detail: str
    engines: dict[str, str] = field(default_factory=dict)
    controls: list[ControlResult] = field(default_factory=list)

    @property
    def discriminates(self) -> bool | None:
        """Whether every control fails the checks (None: the claim has no control)."""
        if not self.controls:
            return None
        return all(c.verdict == "FAIL" for c in self.controls)


def number_text(value: float) -> str:
    """A bound or measurement, short: 0.1, 12,345, 1.23e+09."""
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):,}"
    if abs(value) >= 1e6 or (value and abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"
