"""The refactor changes no result: every recorded bundled step (analytic engine, and a DES sample)
must come out exactly as recorded in ``values.json`` by ``record.py``.

Every recorded case runs, in CI too: the whole table replays in about 20 s on one core. (It once
ran only the cases recorded at under half a second, a choice that depended on how loaded the
recording machine was.)
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.regression.record import ROOT, figures

VALUES = json.loads(Path(__file__).with_name("values.json").read_text())
CASES = sorted(VALUES)


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return a == b


@pytest.mark.parametrize("case", CASES)
def test_recorded_values_unchanged(case: str) -> None:
    hw, wl, mode, engine = case.split("/")
    got = figures(
        ROOT / "hw_configs" / f"{hw}.yaml", ROOT / "workloads" / f"{wl}.yaml", mode, engine
    )
    want = VALUES[case]["values"]
    assert sorted(got["values"]) == sorted(want)
    changed = {k: (want[k], got["values"][k]) for k in want if not _same(want[k], got["values"][k])}
    assert not changed, f"{case}: {changed}"


def test_regression_table_covers_every_bundled_pair() -> None:
    hws = {p.stem for p in (ROOT / "hw_configs").glob("*.yaml")}
    wls = {p.stem for p in (ROOT / "workloads").glob("*.yaml")}
    analytic = {k.rsplit("/", 1)[0] for k in VALUES if k.endswith("/analytic")}
    assert analytic == {f"{h}/{w}/{m}" for h in hws for w in wls for m in ("inference", "training")}


def test_a_changed_value_is_detected() -> None:
    # control: the comparison must fail on a value that moved by one cycle
    case = CASES[0]
    want = dict(VALUES[case]["values"])
    want["cycles"] += 1
    assert not _same(want["cycles"], VALUES[case]["values"]["cycles"])
