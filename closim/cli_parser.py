"""The argument parser of the ``closim`` command line: every subcommand, its options and their
help. Kept apart from the handlers in ``closim.cli``, which import the library lazily (the CLI's
import time matters), so this module imports only what the options' choices need."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from typing import NoReturn

from closim.engines.registry import engine_names
from closim.model.errors import ConfigError
from closim.model.workload import MODES

Handler = Callable[[argparse.Namespace], int]
"""A subcommand's handler: the parsed arguments in, the exit status out."""
Subparsers = argparse._SubParsersAction  # what add_subparsers returns


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and a ConfigError, so it exits 2 like every other."""

    def error(self, message: str) -> NoReturn:
        # the CLI prints "closim: error: " itself: name the subcommand only ("run"), or nothing
        # for the top level, so the program's name is not printed twice
        command = self.prog.removeprefix("closim").strip()
        raise ConfigError(message, source=command or None)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer (got {text!r})") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer (got {value})")
    return value


def _add_format(
    parser: argparse.ArgumentParser, choices: Sequence[str], *, with_out_file: bool = True
) -> None:
    parser.add_argument("--format", choices=list(choices), default=choices[0])
    if with_out_file:
        parser.add_argument(
            "--out", dest="out_file", metavar="FILE", help="write the result to FILE, not stdout"
        )


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The options of a run-like command (run, compare, trace): configs and run settings."""
    p.add_argument("--hw", required=True, help="hw config file or bundled name")
    p.add_argument("--workload", required=True, help="workload file or bundled name")
    p.add_argument("--mode", choices=list(MODES), default=None)
    p.add_argument("--engine", choices=list(engine_names()), default="des")
    p.add_argument("--batch", type=_positive_int, default=None)
    p.add_argument(
        "--set", action="append", metavar="PATH=VALUE", help="override a config value (YAML)"
    )


def _add_topology(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim topology``: a topology's size and paths vs dense."""
    topo = sub.add_parser("topology", help="parameters, MACs and paths of a topology vs dense")
    topo.add_argument("--in", dest="in_features", type=int, required=True, metavar="N")
    topo.add_argument(
        "--out", dest="out_features", type=int, default=None, metavar="N", help="default: --in"
    )
    topo.add_argument(
        "--spec", default="dense", help='topology spec as YAML, e.g. "{kind: clos, r: 64, m: 64}"'
    )
    topo.add_argument(
        "--no-paths", action="store_true", help="skip the input-to-output path count (large layers)"
    )
    _add_format(topo, ("table", "json"), with_out_file=False)
    return topo


def _add_list(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim list``: the bundled configs."""
    lst = sub.add_parser("list", help="the bundled hardware configs and workloads")
    _add_format(lst, ("table", "json"))
    return lst


def _add_run(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim run``: one simulated step."""
    run = sub.add_parser("run", help="simulate one step: cycles, energy, bytes per layer")
    _add_run_options(run)
    run.add_argument("--explain", action="store_true", help="print the mapping of every GEMM")
    run.add_argument(
        "--execute",
        action="store_true",
        help="run each layer's real math and check that the trace's tiles reproduce it",
    )
    run.add_argument("--inputs", metavar="FILE.npy", help="--execute: the first layer's input")
    run.add_argument(
        "--timeline", metavar="FILE.csv", help="write the DES's per-array busy/stall intervals"
    )
    _add_format(run, ("table", "json", "csv"))
    return run


def _add_compare(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim compare``: as written vs dense."""
    cmp_ = sub.add_parser("compare", help="the workload as written vs every layer dense")
    _add_run_options(cmp_)
    cmp_.add_argument("--explain", action="store_true", help="print the mapping of every GEMM")
    _add_format(cmp_, ("table", "json", "csv"))
    return cmp_


def _add_trace(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim trace``: the tile trace to a file."""
    trace = sub.add_parser("trace", help="export the tile trace of one step to CSV or Parquet")
    _add_run_options(trace)
    trace.add_argument("--layer", default=None, help="only this layer's rows")
    trace.add_argument("--out", dest="out_file", required=True, metavar="FILE.csv|FILE.parquet")
    return trace


def _add_plot(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim plot``: figures of results or of a timeline."""
    plot = sub.add_parser(
        "plot",
        help="figures: closim plot RESULTS --x COL --y COL | --preset NAME; "
        "closim plot timeline FILE.csv",
    )
    plot.add_argument("what", metavar="RESULTS|timeline", help="a results file (.sqlite, .csv, "
                      ".parquet), or the word timeline followed by a timeline CSV")  # fmt: skip
    plot.add_argument("file", nargs="?", help="the CSV that closim run --timeline wrote")
    plot.add_argument("--x", default=None, help="column on the x axis")
    plot.add_argument("--y", default=None, help="column on the y axis")
    plot.add_argument("--hue", default=None, help="column that colours the series")
    plot.add_argument("--kind", choices=["line", "bar", "scatter"], default="line")
    plot.add_argument(
        "--preset", choices=["speedup-vs-compression", "energy-breakdown", "roofline"], default=None
    )
    plot.add_argument("--title", default=None)
    plot.add_argument("--out", dest="out_file", required=True, metavar="FIG.png|FIG.svg")
    return plot


def _add_sweep(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim sweep``: a sweep file's points."""
    sweep = sub.add_parser("sweep", help="run a YAML sweep; finished points persist in SQLite")
    sweep.add_argument("file", help="a sweep file (sweeps/*.yaml)")
    sweep.add_argument(
        "--workers", type=_positive_int, default=None, help="1: in-process; default: local Dask"
    )
    sweep.add_argument("--scheduler", default=None, metavar="ADDR", help="tcp://host:8786")
    sweep.add_argument("--db", default=None, metavar="PATH", help="the SQLite results store")
    sweep.add_argument("--out", dest="out_file", default=None, metavar="FILE.csv|FILE.parquet")
    sweep.add_argument(
        "--max-points", dest="max_points", type=_positive_int, default=None, metavar="N",
        help="refuse a sweep of more than N points (default: 100,000, closim.sweep.MAX_POINTS)",
    )  # fmt: skip
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    return sweep


def _add_results(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim results``: a results store exported."""
    results = sub.add_parser("results", help="export a sweep's results store to CSV or Parquet")
    results.add_argument("db", help="the SQLite results store")
    results.add_argument("--out", dest="out_file", default=None, metavar="FILE.csv|FILE.parquet")
    return results


def _add_train_workers(p: argparse.ArgumentParser) -> None:
    """``--workers N``: processes that train models (default: one per CPU, at most 4)."""
    p.add_argument(
        "--workers", type=_positive_int, default=min(4, os.cpu_count() or 1), metavar="N",
        help="processes that train models (same results; default: one per CPU, at most 4)",
    )  # fmt: skip


def _add_validate(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim validate``: a claims file checked, or a validation suite run."""

    def percent(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a percentage (got {text!r})") from None
        if not 0 < value <= 1000:
            raise argparse.ArgumentTypeError(f"expected a percentage in (0, 1000] (got {text})")
        return value

    validate = sub.add_parser(
        "validate",
        help="check a claims file (both engines, and each claim's controls), or compare a "
        "validation suite with published measurements; exit 1 unless every claim is PASS "
        "(FAIL, INCONCLUSIVE: a control holds too, UNDECIDED: the engines disagree) or if a "
        "case is beyond its tolerance",
    )
    validate.add_argument(
        "file",
        help="a claims file (claims/*.yaml), or a validation directory or case file "
        "(validation/, validation/*.yaml)",
    )
    validate.add_argument(
        "--db", default=None, metavar="PATH", help="results store used as a cache (claims only)"
    )
    validate.add_argument(
        "--target-mae", dest="target_mae", type=percent, default=None, metavar="PCT",
        help="validation suites: the mean absolute error target in percent "
        "(default: suite.yaml's target_mae_pct, else 10)",
    )  # fmt: skip
    validate.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_train_workers(validate)
    _add_format(validate, ("table", "json", "markdown"))
    return validate


def _add_train(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim train``: accuracy per topology."""
    train = sub.add_parser(
        "train", help="train the workload's MLP on digits or MNIST-1D, per topology"
    )
    train.add_argument("--workload", required=True, help="workload file or bundled name")
    train.add_argument(
        # closim.train.DATASETS, written out: importing closim.train here would slow every command
        "--dataset", choices=["digits", "mnist1d"], default="digits",
        help="the data set (default: digits; mnist1d is generated locally, no download)",
    )  # fmt: skip
    train.add_argument("--epochs", type=_positive_int, default=30)
    train.add_argument(
        "--topology", action="append", default=[], metavar="SPEC",
        help="a hidden-layer topology (YAML); repeatable; default: as written and dense",
    )  # fmt: skip
    train.add_argument("--folds", type=_positive_int, default=5, help="stratified k-fold splits")
    train.add_argument("--seeds", type=_positive_int, default=2, help="seeds per split")
    train.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default=None)
    train.add_argument("--learning-rate", dest="learning_rate", type=float, default=None)
    train.add_argument(
        "--all-sparse", dest="all_sparse", action="store_true",
        help="apply each --topology to every layer, the first and last too "
        "(default: those stay dense)",
    )  # fmt: skip
    train.add_argument("--set", action="append", metavar="PATH=VALUE", help="workload override")
    _add_train_workers(train)
    _add_format(train, ("table", "json"))
    return train


def _add_show(sub: Subparsers) -> argparse.ArgumentParser:
    """``closim show``: a config resolved."""
    show = sub.add_parser("show", help="a config file resolved and validated, defaults filled in")
    show.add_argument("file", help="a hw config or workload YAML file, or a bundled name")
    show.add_argument("--kind", choices=["auto", "hw", "workload"], default="auto")
    show.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value")
    _add_format(show, ("yaml", "json"))
    return show


_COMMANDS: tuple[tuple[str, Callable[..., argparse.ArgumentParser]], ...] = (
    ("topology", _add_topology),
    ("list", _add_list),
    ("run", _add_run),
    ("compare", _add_compare),
    ("trace", _add_trace),
    ("plot", _add_plot),
    ("sweep", _add_sweep),
    ("results", _add_results),
    ("validate", _add_validate),
    ("train", _add_train),
    ("show", _add_show),
)
"""Every subcommand, in the order of ``closim --help``, with the function that adds it."""


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The argument parser of every ``closim`` subcommand; ``handlers`` maps a subcommand's name
    to its handler (``args.handler`` after parsing)."""
    parser = _Parser(
        prog="closim",
        description="Cycles, energy and memory of a priori sparse layers on modeled accelerators.",
    )
    parser.add_argument("--version", action="version", version=f"closim {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, add in _COMMANDS:
        add(sub).set_defaults(handler=handlers[name])
    return parser


def _version() -> str:
    from closim.model.version import VERSION

    return VERSION
