"""The ``closim`` command line: parses arguments, calls the library, prints, and is the only place
that exits. Every user error ends in exit status 2 and one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

import yaml

from closim import cli_parser
from closim.model.errors import ConfigError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


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
            data["mappings"] = [m.to_dict() for m in result.trace.mappings]
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
    from closim.sweep import MAX_POINTS, export_results, load_sweep, run_sweep

    # the default lives with the library; the parser does not import it (import time)
    spec = load_sweep(args.file, max_points=args.max_points or MAX_POINTS)
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
            data["mappings"] = {
                "as_written": [m.to_dict() for m in written.trace.mappings],
                "dense": [m.to_dict() for m in dense.trace.mappings],
            }
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
    from closim.validation.loader import is_validation

    if is_validation(args.file):
        import dataclasses

        from closim.validation import evaluate_suite, load_suite
        from closim.validation.table import render_suite

        if args.db is not None:
            raise ConfigError(
                f"applies to claims files only, not to a validation suite (got {args.db!r})",
                source="--db",
            )
        suite = load_suite(args.file)
        if args.target_mae is not None:
            suite = dataclasses.replace(suite, target_mae_pct=args.target_mae)
        enabled = not args.quiet and args.format == "table"
        with progress_bar("cases", enabled=enabled) as progress:
            outcome = evaluate_suite(suite, on_progress=progress)
        _emit(render_suite(outcome, args.format), args)
        return EXIT_OK if outcome.verdict == "PASS" else EXIT_FAILED
    if args.target_mae is not None:
        raise ConfigError(
            f"applies to validation suites only, not to a claims file (got {args.target_mae:g})",
            source="--target-mae",
        )
    claims = load_claims(args.file)
    with progress_bar("claims", enabled=not args.quiet and args.format == "table") as progress:
        results = evaluate_claims(
            claims, db=args.db, on_progress=progress, train_workers=args.workers
        )
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
        hidden_only=not args.all_sparse,
        on_epoch=on_epoch,
        workers=args.workers,
        dataset=args.dataset,
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


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "topology": _cmd_topology,
    "list": _cmd_list,
    "run": _cmd_run,
    "compare": _cmd_compare,
    "trace": _cmd_trace,
    "plot": _cmd_plot,
    "sweep": _cmd_sweep,
    "results": _cmd_results,
    "validate": _cmd_validate,
    "train": _cmd_train,
    "show": _cmd_show,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every ``closim`` subcommand (options in ``closim.cli_parser``)."""
    return cli_parser.build_parser(_HANDLERS)


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
