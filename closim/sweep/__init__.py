"""Sweeps (docs/architecture.md §11): a YAML file of axes over config paths, expanded lazily into
points, run in-process or on Dask (batches of points per task), each finished point committed to
an SQLite store keyed by the hash of its resolved config, so that a killed sweep resumes where
it stopped.

``load_sweep`` validates a sweep file; ``run_sweep`` runs it; ``load_results`` /
``export_results`` read the store back as a table. Nothing here prints.
"""

from closim.sweep.execute import SweepOutcome, run_sweep, run_task
from closim.sweep.resolve import Resolver, point_key, resolve_point
from closim.sweep.spec import MAX_POINTS, Point, SweepConfig, SweepSpec, load_sweep
from closim.sweep.store import export_results, load_results

__all__ = [
    "MAX_POINTS",
    "Point",
    "Resolver",
    "SweepConfig",
    "SweepOutcome",
    "SweepSpec",
    "export_results",
    "load_results",
    "load_sweep",
    "point_key",
    "resolve_point",
    "run_sweep",
    "run_task",
]
