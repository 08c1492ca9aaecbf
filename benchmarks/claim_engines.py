"""Every bundled claim's verdict under both engines: the simulations of each claim run once with
the DES and once with the analytic engine, and the verdicts are printed side by side.

Run: ``python benchmarks/claim_engines.py [claims/FILE.yaml ...] [--sim-only]`` (default: every
file in ``claims/``; about a minute on 2 cores, most of it training for accuracy claims, which
``--sim-only`` skips: their runs use no engine). Exits 1 when a verdict differs between engines.
Results stores go to a temporary folder, so nothing is reused from an earlier run.

The control: ``--control`` gives the analytic engine an eighth of the DRAM bandwidth on the first
run of every claim only (an engine that is badly wrong on one side of each ratio), which must
flip at least one verdict; if none flips, the comparison could not have caught a disagreement
and the script exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

from closim.claims import evaluate_claims, load_claims
from closim.claims.records import Claim, ClaimsFile

ROOT = Path(__file__).resolve().parents[1]


def _with_engine(claims: ClaimsFile, engine: str, sim_only: bool, halve: bool) -> ClaimsFile:
    """``claims`` with every run on ``engine`` (and, for the control, an eighth of the DRAM
    bandwidth on each claim's first run)."""
    kept: list[Claim] = []
    for claim in claims.claims:
        if sim_only and claim.training is not None:
            continue
        runs = {}
        for i, (name, run) in enumerate(claim.runs.items()):
            hw_set = dict(run.hw_set)
            if halve and i == 0:
                hw_set["dram.bandwidth_gb_per_s"] = _halved(run)
            runs[name] = dataclasses.replace(run, engine=engine, hw_set=hw_set)
        kept.append(dataclasses.replace(claim, runs=runs))
    return dataclasses.replace(claims, claims=tuple(kept))


def _halved(run) -> float:
    """An eighth of the run's DRAM bandwidth in GB/s."""
    from closim.config import load_hw

    hw = load_hw(run.hw, [f"{k}={v}" for k, v in run.hw_set.items()]) if run.hw else None
    return (hw.dram.bandwidth_gb_per_s if hw else 1.0) / 8


def _verdicts(claims: ClaimsFile, folder: Path, tag: str) -> dict[str, str]:
    db = folder / f"{claims.name}-{tag}.sqlite"
    # closim validate judges every claim on both engines itself (UNDECIDED where they differ);
    # here each engine is judged on its own, so that the control can handicap one of them
    return {r.id: r.verdict for r in evaluate_claims(claims, db=db, second_opinion=False)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--sim-only", action="store_true", help="skip accuracy claims")
    parser.add_argument(
        "--control", action="store_true", help="analytic on 1/8 of the bandwidth, first runs"
    )
    args = parser.parse_args()
    files = args.files or sorted((ROOT / "claims").glob("*.yaml"))
    differ = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"{'claim':40} {'des':>12} {'analytic':>12}")
        for path in files:
            claims = load_claims(path)
            des = _verdicts(_with_engine(claims, "des", args.sim_only, False), folder, "des")
            ana_claims = _with_engine(claims, "analytic", args.sim_only, args.control)
            ana = _verdicts(ana_claims, folder, "analytic")
            for cid, verdict in des.items():
                mark = "" if ana[cid] == verdict else "  <- differs"
                differ += ana[cid] != verdict
                print(f"{path.stem + ':' + cid:40} {verdict:>12} {ana[cid]:>12}{mark}")
    print(f"verdicts that differ between engines: {differ}")
    if args.control:
        print("control (analytic, first run of each claim on 1/8 of the bandwidth): must differ")
        return 0 if differ else 1
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
