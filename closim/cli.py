"""The ``closim`` command line: parses arguments, calls the library, prints, and is the only place
that exits. Every user error ends in exit status 2 and one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

import yaml

from closim.engines.registry import engine_names
from closim.model.errors import ConfigError
from closim.model.workload import MODES

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and a ConfigError, so it exits 2 like every other."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message, source=self.prog)


def _parse_spec(text: str, option: str) -> object:
    """A topology spec given on the command line, parsed as YAML (``dense`` or ``{kind: clos}``)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"not valid YAML{where} (got {text!r})", source=option) from None


def _cmd_topology(args: argparse.Namespace) -> int:
    from closim.report.render import render_topology_summary
    from closim.report.topology_summary import summarize_topology

    spec = _parse_spec(args.spec, "--spec")
    summary = summarize_topology(spec, args.in_features, args.out_features, paths=not args.no_paths)
    _emit(render_topology_summary(summary, args.format), args)
    return EXIT_OK


def _cmd_list(args: argparse.Namespace) -> int:
    from closim.config import list_bundled
    from closim.report.render import render_bundled

    _emit(render_bundled(list_bundled(), args.format), args)
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from closim.config import resolved_config
    from closim.report.render import render_resolved_config

    resolved = resolved_config(args.file, args.kind, args.set or [])
    _emit(render_resolved_config(resolved, args.format), args)
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer (got {text!r})") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer (got {value})")
    return value


def _load_run_inputs(args: argparse.Namespace):
    """The hw record and workload of a run-like command, with ``--set`` overrides applied."""
    from closim.config import load_hw, load_workload, parse_set_options

    sets = parse_set_options(args.set or [])
    hw = load_hw(args.hw, sets["hw"])
    workload = load_workload(args.workload, sets["workload"])
    return hw, workload


def _cmd_run(args: argparse.Namespace) -> int:
    from closim.api import simulate
    from closim.report.render import render_execute, render_explain, render_run, to_json
    from closim.report.results import result_dict, result_frame

    hw, workload = _load_run_inputs(args)
    result = simulate(hw, workload, engine=args.engine, mode=args.mode, batch=args.batch)
    data = result_dict(result)
    if args.execute:
        data["execute"] = _execute(args, result)
    if args.timeline:
        _write_timeline(result, args.timeline)
    if args.format == "json":
        if args.explain:
            data["mappings"] = result.trace.mappings
        text = to_json(data)
    elif args.format == "csv":
        text = result_frame(result).to_csv(index=False)
    else:
        text = render_run(data)
        if args.explain:
            text += render_explain(result.trace.mappings, "mapper's choice per GEMM")
        if args.execute:
            text += render_execute(data["execute"])
    _emit(text, args)
    if args.execute and not all(e["ok"] for e in data["execute"]):
        print("closim: the replayed trace differs from the layer math", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _write_timeline(result, path: str) -> None:
    """``--timeline FILE.csv``: the DES's per-array busy/stall intervals and DRAM transfers."""
    from closim.report.timeline import timeline_frame

    if result.des_record is None:
        raise ConfigError("needs the DES engine (--engine des) (got analytic)", source="--timeline")
    if not path.endswith(".csv"):
        raise ConfigError(f"expected a .csv file (got {path!r})", source="--timeline")
    try:
        timeline_frame(result.des_record.intervals).to_csv(path, index=False)
    except OSError as exc:
        raise ConfigError(
            f"cannot write: {exc.strerror} (got {path!r})", source="--timeline"
        ) from None


def _cmd_plot(args: argparse.Namespace) -> int:
    if not args.out_file.endswith((".png", ".svg")):
        raise ConfigError(f"expected a .png or .svg file (got {args.out_file!r})", source="--out")
    try:
        if args.what == "timeline":
            import pandas as pd

            from closim.report.timeline import plot_timeline

            if not args.file:
                raise ConfigError(
                    "needs the timeline CSV: closim plot timeline FILE.csv --out fig.png",
                    source="closim plot",
                )
            try:
                frame = pd.read_csv(args.file)
            except (OSError, ValueError) as exc:
                raise ConfigError(f"cannot read a CSV: {exc}", source=args.file) from None
            try:
                plot_timeline(frame, args.out_file, title=args.file)
            except ValueError as exc:
                raise ConfigError(str(exc), source=args.file) from None
        else:
            from closim.report.plots import plot_results
            from closim.sweep.results_file import load_results_file

            if args.file:
                raise ConfigError(
                    f"one results file expected (got {args.what!r} and {args.file!r})",
                    source="closim plot",
                )
            if not (args.preset or (args.x and args.y)):
                raise ConfigError("needs --x and --y, or --preset", source="closim plot")
            plot_results(
                load_results_file(args.what),
                args.out_file,
                x=args.x,
                y=args.y,
                hue=args.hue,
                kind=args.kind,
                preset=args.preset,
                title=args.title or "",
            )
    except OSError as exc:
        raise ConfigError(
            f"cannot write: {exc.strerror} (got {args.out_file!r})", source="--out"
        ) from None
    print(f"closim: wrote {args.out_file}", file=sys.stderr)
    return EXIT_OK


def _cmd_sweep(args: argparse.Namespace) -> int:
    from closim.report.progress import progress_bar
    from closim.sweep import export_results, load_sweep, run_sweep

    spec = load_sweep(args.file)
    with progress_bar("sweep", enabled=not args.quiet) as on_progress:
        outcome = run_sweep(
            spec,
            workers=args.workers,
            scheduler=args.scheduler,
            db=args.db,
            on_progress=on_progress,
        )
    print(
        f"closim: {outcome.total} points: {outcome.ran} ran, {outcome.skipped} already stored, "
        f"{len(outcome.failed)} failed; results in {outcome.db_path}",
        file=sys.stderr,
    )
    for point, error in outcome.failed:
        print(f"closim: failed point {point}: {error}", file=sys.stderr)
    if args.out_file:
        rows = export_results(outcome.db_path, args.out_file)
        print(f"closim: wrote {rows} rows to {args.out_file}", file=sys.stderr)
    return EXIT_FAILED if outcome.failed else EXIT_OK


def _cmd_results(args: argparse.Namespace) -> int:
    from closim.sweep import export_results, load_results

    if args.out_file:
        rows = export_results(args.db, args.out_file)
        print(f"closim: wrote {rows} rows to {args.out_file}", file=sys.stderr)
    else:
        _emit(load_results(args.db).to_csv(index=False), args)
    return EXIT_OK


def _execute(args: argparse.Namespace, result) -> list[dict]:
    """``--execute``: replays each layer's tiles against its real math (closim.replay)."""
    import numpy as np

    from closim.replay import TOLERANCE, execute

    inputs = None
    first = result.workload.layers[0]
    if args.inputs:
        try:
            inputs = np.load(args.inputs, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read a .npy array: {exc} (got {args.inputs!r})", source="--inputs"
            ) from None
        want = (result.batch, first.in_features)
        if inputs.shape != want:
            raise ConfigError(
                f"expected an array of shape {want} (batch, in_features) (got {inputs.shape})",
                source="--inputs",
            )
        inputs = inputs.astype(np.float64)
    layers = [(x.name, x.topology, x.in_features, x.out_features) for x in result.workload.layers]
    report = execute(result.trace, layers, result.batch, result.mode == "training", inputs=inputs)
    for entry in report:
        worst = max(v for k, v in entry.items() if k != "layer" and v is not None)
        entry["max_relative_difference"] = worst
        entry["ok"] = worst <= TOLERANCE
    return report


def _cmd_compare(args: argparse.Namespace) -> int:
    from closim.api import compare
    from closim.report.render import render_compare, render_explain, to_json
    from closim.report.results import compare_dict, flatten

    hw, workload = _load_run_inputs(args)
    written, dense = compare(hw, workload, engine=args.engine, mode=args.mode, batch=args.batch)
    data = compare_dict(written, dense)
    if args.format == "json":
        if args.explain:
            data["mappings"] = {"as_written": written.trace.mappings, "dense": dense.trace.mappings}
        text = to_json(data)
    elif args.format == "csv":
        import pandas as pd

        rows = [{"layer": "total", **flatten(data["totals"])}]
        rows += [{"layer": layer["name"], **flatten(layer)} for layer in data["layers"]]
        text = pd.DataFrame(rows).drop(columns=["name"], errors="ignore").to_csv(index=False)
    else:
        text = render_compare(data)
        if args.explain:
            text += render_explain(written.trace.mappings, "as written: mapper's choice per GEMM")
            text += render_explain(dense.trace.mappings, "dense: mapper's choice per GEMM")
    _emit(text, args)
    return EXIT_OK


def _cmd_trace(args: argparse.Namespace) -> int:
    from closim.api import lower_workload
    from closim.mapping.mapper import map_program

    hw, workload = _load_run_inputs(args)
    mode = args.mode or workload.mode
    batch = args.batch or workload.batch
    if args.layer and args.layer not in {layer.name for layer in workload.layers}:
        names = ", ".join(layer.name for layer in workload.layers)
        raise ConfigError(
            f"no such layer, expected one of {names} (got {args.layer!r})", source="--layer"
        )
    frame = map_program(lower_workload(hw, workload, mode, batch), hw).to_frame()
    if args.layer:
        frame = frame[frame["layer"] == args.layer]
    out = args.out_file
    try:
        if out.endswith(".parquet"):
            frame.to_parquet(out, index=False)
        elif out.endswith(".csv"):
            frame.to_csv(out, index=False)
        else:
            raise ConfigError(f"expected a .csv or .parquet file (got {out!r})", source="--out")
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror} (got {out!r})", source="--out") from None
    print(f"closim: wrote {len(frame)} trace rows to {out}", file=sys.stderr)
    return EXIT_OK


def _cmd_validate(args: argparse.Namespace) -> int:
    from closim.claims import evaluate_claims, load_claims
    from closim.claims.table import render_claims
    from closim.report.progress import progress_bar

    claims = load_claims(args.file)
    with progress_bar("claims", enabled=not args.quiet and args.format == "table") as progress:
        results = evaluate_claims(claims, db=args.db, on_progress=progress)
    _emit(render_claims(results, args.format), args)
    return EXIT_OK if all(r.verdict == "PASS" for r in results) else EXIT_FAILED


def _cmd_train(args: argparse.Namespace) -> int:
    from closim.config import load_workload
    from closim.report.train_table import render_train
    from closim.train import train_topologies

    workload = load_workload(args.workload, args.set or [])
    topologies = [_parse_spec(text, "--topology") for text in args.topology] or None

    def on_epoch(topology: str, epoch: int, epochs: int, loss: float) -> None:
        if args.format == "table":
            print(f"closim: {topology}: epoch {epoch}/{epochs}, loss {loss:.4f}", file=sys.stderr)

    results = train_topologies(
        workload,
        topologies,
        epochs=args.epochs,
        folds=args.folds,
        seeds=args.seeds,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        on_epoch=on_epoch,
    )
    _emit(render_train(results, args.format), args)
    return EXIT_OK


def _emit(text: str, args: argparse.Namespace) -> None:
    """Writes a rendered result to ``--out`` when given, else to stdout."""
    out = getattr(args, "out_file", None)
    if out:
        try:
            with open(out, "w", encoding="utf-8") as handle:
                handle.write(text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise ConfigError(
                f"cannot write: {exc.strerror} (got {out!r})", source="--out"
            ) from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _add_format(
    parser: argparse.ArgumentParser, choices: Sequence[str], *, with_out_file: bool = True
) -> None:
    parser.add_argument("--format", choices=list(choices), default=choices[0])
    if with_out_file:
        parser.add_argument(
            "--out", dest="out_file", metavar="FILE", help="write the result to FILE, not stdout"
        )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``closim`` subcommand."""
    parser = _Parser(
        prog="closim",
        description="Cycles, energy and memory of a priori sparse layers on modeled accelerators.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

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
    topo.set_defaults(handler=_cmd_topology)

    lst = sub.add_parser("list", help="the bundled hardware configs and workloads")
    _add_format(lst, ("table", "json"))
    lst.set_defaults(handler=_cmd_list)

    def run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--hw", required=True, help="hw config file or bundled name")
        p.add_argument("--workload", required=True, help="workload file or bundled name")
        p.add_argument("--mode", choices=list(MODES), default=None)
        p.add_argument("--engine", choices=list(engine_names()), default="des")
        p.add_argument("--batch", type=_positive_int, default=None)
        p.add_argument(
            "--set", action="append", metavar="PATH=VALUE", help="override a config value (YAML)"
        )

    run = sub.add_parser("run", help="simulate one step: cycles, energy, bytes per layer")
    run_options(run)
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
    run.set_defaults(handler=_cmd_run)

    cmp_ = sub.add_parser("compare", help="the workload as written vs every layer dense")
    run_options(cmp_)
    cmp_.add_argument("--explain", action="store_true", help="print the mapping of every GEMM")
    _add_format(cmp_, ("table", "json", "csv"))
    cmp_.set_defaults(handler=_cmd_compare)

    trace = sub.add_parser("trace", help="export the tile trace of one step to CSV or Parquet")
    run_options(trace)
    trace.add_argument("--layer", default=None, help="only this layer's rows")
    trace.add_argument("--out", dest="out_file", required=True, metavar="FILE.csv|FILE.parquet")
    trace.set_defaults(handler=_cmd_trace)

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
    plot.set_defaults(handler=_cmd_plot)

    sweep = sub.add_parser("sweep", help="run a YAML sweep; finished points persist in SQLite")
    sweep.add_argument("file", help="a sweep file (sweeps/*.yaml)")
    sweep.add_argument(
        "--workers", type=_positive_int, default=None, help="1: in-process; default: local Dask"
    )
    sweep.add_argument("--scheduler", default=None, metavar="ADDR", help="tcp://host:8786")
    sweep.add_argument("--db", default=None, metavar="PATH", help="the SQLite results store")
    sweep.add_argument("--out", dest="out_file", default=None, metavar="FILE.csv|FILE.parquet")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep.set_defaults(handler=_cmd_sweep)

    results = sub.add_parser("results", help="export a sweep's results store to CSV or Parquet")
    results.add_argument("db", help="the SQLite results store")
    results.add_argument("--out", dest="out_file", default=None, metavar="FILE.csv|FILE.parquet")
    results.set_defaults(handler=_cmd_results)

    validate = sub.add_parser(
        "validate", help="check the claims of a claims file; exit 1 if any fail"
    )
    validate.add_argument("file", help="a claims file (claims/*.yaml)")
    validate.add_argument(
        "--db", default=None, metavar="PATH", help="results store used as a cache"
    )
    validate.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_format(validate, ("table", "json"))
    validate.set_defaults(handler=_cmd_validate)

    train = sub.add_parser("train", help="train the workload's MLP on digits, per topology")
    train.add_argument("--workload", required=True, help="workload file or bundled name")
    train.add_argument("--epochs", type=_positive_int, default=30)
    train.add_argument(
        "--topology", action="append", default=[], metavar="SPEC",
        help="a hidden-layer topology (YAML); repeatable; default: as written and dense",
    )  # fmt: skip
    train.add_argument("--folds", type=_positive_int, default=5, help="stratified k-fold splits")
    train.add_argument("--seeds", type=_positive_int, default=2, help="seeds per split")
    train.add_argument("--optimizer", choices=["sgd", "momentum", "adam"], default=None)
    train.add_argument("--learning-rate", dest="learning_rate", type=float, default=None)
    train.add_argument("--set", action="append", metavar="PATH=VALUE", help="workload override")
    _add_format(train, ("table", "json"))
    train.set_defaults(handler=_cmd_train)

    show = sub.add_parser("show", help="a config file resolved and validated, defaults filled in")
    show.add_argument("file", help="a hw config or workload YAML file, or a bundled name")
    show.add_argument("--kind", choices=["auto", "hw", "workload"], default="auto")
    show.add_argument("--set", action="append", metavar="PATH=VALUE", help="override a value")
    _add_format(show, ("yaml", "json"))
    show.set_defaults(handler=_cmd_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one ``closim`` command; returns its exit status (0 ok, 1 failed check, 2 bad input)."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        if getattr(args, "command", None) == "topology" and args.out_features is None:
            args.out_features = args.in_features
        handler: Callable[[argparse.Namespace], int] = args.handler
        return handler(args)
    except ConfigError as err:
        print(f"closim: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("closim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug in closim: one line; the traceback only on request
        if os.environ.get("CLOSIM_DEBUG"):
            raise
        print(
            f"closim: internal error: {type(exc).__name__}: {exc} "
            "(set CLOSIM_DEBUG=1 for the traceback; please report it)",
            file=sys.stderr,
        )
        return EXIT_FAILED
