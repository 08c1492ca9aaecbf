"""Running what claims need: simulations through the sweep results store (a cache shared with
sweeps) and training runs, each once per evaluation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from closim.claims.records import Claim, ClaimsFile, Run, Training
from closim.config.loader import load_hw, load_workload
from closim.model.hw import Accelerator
from closim.model.workload import Workload


class RunFailed(Exception):
    """A simulation that did not finish; its message says why."""


class Runner:
    """Simulates runs through the results store: a run already stored (by an earlier
    ``closim validate`` or by a sweep that reached the same config) is read, not simulated."""

    def __init__(self, claims: ClaimsFile, db: Path, train_workers: int = 1) -> None:
        from closim.sweep.store import Store

        self.train_workers = train_workers
        self.claims = claims
        self.store = Store(db)
        self.memo: dict[str, dict[str, Any]] = {}
        self.stored: dict[str, dict[str, Any]] | None = None
        self.simulated = 0
        self.trained: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        """Closes the results store."""
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
        from closim.sweep.execute import run_task
        from closim.sweep.resolve import Task, point_key, resolved_config
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
            raise RunFailed(f"run {run.name} on {hw.name} failed: {outcome['error']}")
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
        """name -> TrainResult of the training run. Each topology trains once per evaluation
        and is reused by every claim or control that trains it with the same settings (a
        control that replaces one topology does not train the other again): every model is
        seeded by its (seed, fold) alone, so a topology's accuracies do not depend on which
        others train beside it, and the pairing of runs holds across calls."""
        from closim.train import train_topologies

        keys = {name: training.topology_key(name) for name in training.topologies}
        missing = list(dict.fromkeys(k for k in keys.values() if k not in self.trained))
        if missing:
            specs = {keys[n]: training.topologies[n] for n in training.topologies}
            workload = load_workload(training.workload, training.workload_set or None)
            results = train_topologies(
                workload,
                [specs[k] for k in missing],
                epochs=training.epochs,
                folds=training.folds,
                seeds=training.seeds,
                optimizer=training.optimizer,
                learning_rate=training.learning_rate,
                hidden_only=training.hidden_only,
                workers=self.train_workers,
                dataset=training.dataset,
            )
            self.trained.update(zip(missing, results, strict=True))
        return {name: self.trained[key] for name, key in keys.items()}


def _version() -> str:
    from closim.model.version import VERSION

    return VERSION
