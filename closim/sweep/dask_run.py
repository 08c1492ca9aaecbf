"""Running a sweep's points on Dask: a LocalCluster of single-threaded processes or the user's
scheduler, a window of points in flight at a time, each committed by the driver as it completes.

Imported by ``run_sweep`` only when a sweep runs on Dask, so that an in-process sweep never
imports ``distributed``.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from typing import Any

from closim.model.errors import ConfigError
from closim.sweep.execute import Driver, Resolved, error_text, run_task, unresolved_outcome

_ATTEMPTS = 3  # submissions of one point to Dask before its failure to return is stored


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


def run_dask(
    driver: Driver, todo: list[Resolved], workers: int | None, scheduler: str | None
) -> None:
    """Submits points to Dask a window at a time (so that a point another process stores
    meanwhile is skipped, not re-run) and commits each as it completes. A point whose result is
    lost with its worker is resubmitted; one that keeps killing workers (``KilledWorker``) or
    cannot be fetched after ``_ATTEMPTS`` tries is stored as failed."""
    from distributed import KilledWorker, as_completed

    client, cluster = dask_client(workers, scheduler)
    try:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        window = max(4, 2 * max(threads, workers or 1))
        pending: Iterator[Resolved] = iter(todo)
        running: dict[str, Resolved] = {}
        attempts: dict[str, int] = {}
        finished = as_completed()

        def submit(res: Resolved) -> None:
            attempts[res.key] = attempts.get(res.key, 0) + 1
            name = f"closim-point-{res.key[:16]}-{uuid.uuid4().hex[:8]}"
            future = client.submit(run_task, res.task, key=name, pure=False)
            running[future.key] = res
            finished.add(future)

        def submit_more() -> None:
            while len(running) < window:
                res = next(pending, None)
                if res is None:
                    return
                if driver.already_stored(res):
                    continue
                if res.task is None:
                    driver.commit(res, unresolved_outcome(res))
                    continue
                submit(res)

        submit_more()
        for future in finished:
            res = running.pop(future.key)
            try:
                outcome = future.result()
            except Exception as exc:  # not the point's own error: run_task returns those
                if not isinstance(exc, KilledWorker) and attempts[res.key] < _ATTEMPTS:
                    submit(res)  # e.g. its result was lost with a worker before it was fetched
                    continue
                outcome = unresolved_outcome(res)
                outcome["error"] = error_text(exc)
                outcome["meta"]["worker"] = "dask"
            finally:
                future.release()
            driver.commit(res, outcome)
            submit_more()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
