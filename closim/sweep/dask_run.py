"""Running a sweep's points on Dask: a LocalCluster of single-threaded processes or the user's
scheduler, a window of tasks in flight at a time, each task a batch of points, each point
committed by the driver as its task completes.

A Dask task costs a few milliseconds of scheduling and transfer, as much as a small analytic
point, so a task runs a batch of points: sized from the measured seconds per point so that it
works about ``TARGET_TASK_S``. The mapper's caches are per process, so the points a worker runs
share them whichever task brought them. Imported by ``run_sweep`` only when a sweep runs on
Dask, so that an in-process sweep never imports ``distributed``.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from closim.model.errors import ConfigError
from closim.sweep.execute import Driver, run_tasks, unresolved_outcome
from closim.sweep.resolve import Resolved, error_text

_ATTEMPTS = 3  # submissions of one point to Dask before its failure to return is stored
TARGET_TASK_S = 0.3  # seconds of work per task: Dask's per-task overhead is then a few percent
FIRST_BATCH = 4  # points per task before any point's time is known
MAX_BATCH = 256  # points per task at most: a task lost with its worker re-runs at most this many


def dask_client(workers: int | None, scheduler: str | None) -> tuple[Any, Any]:
    """(client, cluster): a client of ``scheduler``, or of a new LocalCluster of ``workers``
    single-threaded processes (cluster None when the scheduler is the user's)."""
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError, ValueError) as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler: {exc} (got {scheduler!r})", source="--scheduler"
            ) from None
    cluster = LocalCluster(
        n_workers=workers or os.cpu_count() or 1,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


@dataclass
class BatchSizer:
    """Points per task: about ``TARGET_TASK_S`` of work at the mean seconds per point measured
    so far (``FIRST_BATCH`` before any), at most ``MAX_BATCH``, and never so many that the points
    left do not spread over every worker (a short sweep, or a sweep's end, uses them all)."""

    seconds: float = 0.0  # of the points measured
    points: int = 0

    def observe(self, outcomes: Sequence[dict[str, Any]]) -> None:
        """Adds the measured wall time of finished points (``run_task``'s ``meta.wall_s``)."""
        self.seconds += sum(float(o["meta"]["wall_s"]) for o in outcomes)
        self.points += len(outcomes)

    def size(self, remaining: int, workers: int) -> int:
        """Points for the next task, with ``remaining`` points at most left to submit to
        ``workers`` (threads)."""
        if self.points == 0:
            want = FIRST_BATCH
        else:
            per_point = max(self.seconds / self.points, 1e-6)
            want = min(MAX_BATCH, max(1, int(TARGET_TASK_S / per_point)))
        return max(1, min(want, math.ceil(remaining / max(workers, 1))))


def run_dask(
    driver: Driver, todo: Iterator[Resolved], workers: int | None, scheduler: str | None
) -> None:
    """Submits batches of points to Dask a window at a time (points are taken from ``todo`` only
    when a batch is made, so that a point another process stores meanwhile is skipped, not
    re-run) and commits each point of a batch as the batch completes. A point identical to one
    in flight waits for it. A batch lost with its worker is resubmitted point by point, so that
    a point that keeps killing workers (``KilledWorker``), or cannot be fetched after
    ``_ATTEMPTS`` tries, is stored as failed alone."""
    from distributed import KilledWorker, as_completed

    client, cluster = dask_client(workers, scheduler)
    try:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        window = 2 * max(threads, workers or 1)  # a task queued behind each running one
        running: dict[str, list[Resolved]] = {}  # future key -> its points
        waiting: dict[str, list[Resolved]] = {}  # point key in flight -> identical points
        attempts: dict[str, int] = {}  # point key in flight -> submissions
        sizer = BatchSizer()
        finished = as_completed()

        def submit(batch: list[Resolved]) -> None:
            for res in batch:
                attempts[res.key] = attempts.get(res.key, 0) + 1
            name = f"closim-points-{batch[0].key[:16]}-{len(batch)}-{uuid.uuid4().hex[:8]}"
            tasks = [res.task for res in batch]
            future = client.submit(run_tasks, tasks, key=name, pure=False)
            running[future.key] = batch
            finished.add(future)

        def take(size: int) -> list[Resolved]:
            batch: list[Resolved] = []
            while len(batch) < size:
                res = next(todo, None)
                if res is None:
                    break
                if res.key in waiting:  # an identical point is in flight: it waits for that one
                    waiting[res.key].append(res)
                    continue
                if driver.already_stored(res):
                    continue
                if res.task is None:
                    driver.commit(res, unresolved_outcome(res))
                    continue
                waiting[res.key] = []
                batch.append(res)
            return batch

        def submit_more() -> None:
            while len(running) < window:
                in_flight = sum(len(b) for b in running.values())
                remaining = driver.total - driver.done - in_flight
                batch = take(sizer.size(remaining, threads))
                if not batch:
                    return
                submit(batch)

        def commit(res: Resolved, outcome: dict[str, Any]) -> None:
            driver.commit(res, outcome)
            attempts.pop(res.key, None)
            for twin in waiting.pop(res.key, []):
                driver.skip(twin, (outcome["status"], outcome["error"]))
                driver.progress()

        submit_more()
        for future in finished:
            batch = running.pop(future.key)
            try:
                outcomes = future.result()
            except Exception as exc:  # not a point's own error: run_task returns those
                if len(batch) > 1:  # which point was it? each alone now, so it fails alone
                    for res in batch:
                        submit([res])
                    continue
                (res,) = batch
                if not isinstance(exc, KilledWorker) and attempts[res.key] < _ATTEMPTS:
                    submit(batch)  # e.g. its result was lost with a worker before it was fetched
                    continue
                outcome = unresolved_outcome(res)
                outcome["error"] = error_text(exc)
                outcome["meta"]["worker"] = "dask"
                commit(res, outcome)
            else:
                sizer.observe(outcomes)
                submit_more()  # the workers' next task first: committing takes a while
                for res, outcome in zip(batch, outcomes, strict=True):
                    commit(res, outcome)
            finally:
                future.release()
            submit_more()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
