"""The validation-case file format: pydantic models of a case file and of ``suite.yaml``.

What the keys mean is in ``closim.validation``; ``closim.validation.loader`` turns a validated file
into the records of ``closim.validation.records``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from closim.config.validate import NonNegativeFloat, PositiveFloat, Schema, Text, known_engine
from closim.model.errors import ConfigError

QUANTITIES = ("seconds", "cycles", "tflops", "tops")
"""What a published number measures: the step's time in seconds, its time in PE clock cycles, or
its throughput in 1e12 operations per second (2 per MAC; ``tflops`` for floating point, ``tops``
for integer arithmetic: the same arithmetic, two names so a case reads like its source)."""
MAPPINGS = ("exact", "derived", "assumed")
"""How closim's run corresponds to the published setup: ``exact`` (same shapes and widths),
``derived`` (shapes reconstructed from published figures by arithmetic) or ``assumed``."""
DEFAULT_TARGET_MAE_PCT = 10.0
"""The suite's target mean absolute error (issue 12: LLMCompass reports 10.9% on operators)."""
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"

CaseId = Annotated[str, Field(pattern=ID_PATTERN, max_length=100)]
Percent = Annotated[float, Field(gt=0, le=1000)]


class RunConfig(Schema):
    """The simulation closim compares with the published number."""

    hw: Text = Field(description="hw config: a path relative to the case file, or a bundled name")
    workload: Text = Field(description="a path relative to the case file, or a bundled name")
    mode: Literal["inference", "training"] | None = None
    engine: Text = "analytic"
    set: list[Text] | dict[str, Any] = Field(default_factory=list)

    _known_engine = field_validator("engine")(known_engine)


class CaseConfig(Schema):
    """One published measurement and the closim run it is compared with."""

    id: CaseId
    chip: Text = Field(description="the chip that was measured, e.g. NVIDIA H100 SXM5")
    source: Text = Field(description="citation and where: paper, table, figure, file, commit")
    quantity: Literal["seconds", "cycles", "tflops", "tops"]
    published: PositiveFloat = Field(description="the published number, in the quantity's unit")
    tolerance_pct: Percent = Field(description="largest |error| in percent for a pass")
    mapping: Literal["exact", "derived", "assumed"]
    overhead_us: NonNegativeFloat = Field(
        0.0,
        description="a fixed per-call time the measurement includes and closim does not model "
        "(e.g. a kernel launch), as the source states it; added to closim's time",
    )
    known_issue: Text | None = Field(
        None,
        description="why closim misses this case today: reported, but outside the verdict and "
        "the mean absolute error",
    )
    notes: Text = ""
    run: RunConfig

    @model_validator(mode="after")
    def _overhead_needs_time(self) -> CaseConfig:
        if self.overhead_us and self.quantity == "cycles":
            raise ConfigError(
                "overhead_us is a time: give the quantity in seconds, tflops or tops, or leave "
                f"the overhead out (got {self.overhead_us:g} with quantity cycles)",
                key_path="overhead_us",
            )
        return self


class CasesConfig(Schema):
    """A validation-case file (``validation/*.yaml``)."""

    description: Text = ""
    cases: Annotated[list[CaseConfig], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> CasesConfig:
        seen: set[str] = set()
        for i, case in enumerate(self.cases):
            if case.id in seen:
                raise ConfigError(
                    f"case ids must be unique (got {case.id!r} twice)", key_path=f"cases.{i}.id"
                )
            seen.add(case.id)
        return self


class SuiteConfig(Schema):
    """``suite.yaml`` in a validation directory: the suite's own settings."""

    description: Text = ""
    target_mae_pct: Percent = DEFAULT_TARGET_MAE_PCT
