"""Import time of ``closim.cli`` against its unavoidable dependencies; which heavy modules load.

Each measurement runs in a fresh interpreter (``sys.executable -c ...``) that times only the import
statement with ``time.perf_counter`` (interpreter start-up is excluded); the median of ``--runs``
runs (default 5) is reported. Measured:

(a) ``import numpy, yaml, pydantic``, the baseline every ``closim`` command needs anyway;
(b) ``import closim.cli``, what the ``closim`` script loads before parsing its arguments;
(c) ``import closim``, the public API package.

Target: (b) < 3x (a). A control line also times ``closim.cli`` plus ``pandas`` and ``scipy.sparse``
and prints the ratio that would result if those were imported at module top again, so the target
can visibly fail. Finally it lists which of pandas, scipy, matplotlib, distributed, dask, sklearn
are in ``sys.modules`` after ``import closim.cli`` (expected: none). Run:

    python benchmarks/import_time.py [--runs N]

It exits with status 1 when the target fails or a heavy module is loaded.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

TARGET_RATIO = 3.0
HEAVY = ("pandas", "scipy", "matplotlib", "distributed", "dask", "sklearn")

BASELINE = "import numpy, yaml, pydantic"
CASES = {
    "numpy + yaml + pydantic": BASELINE,
    "closim.cli": "import closim.cli",
    "closim": "import closim",
}
CONTROL = ("closim.cli + pandas + scipy", "import closim.cli, pandas, scipy.sparse")

_TIMER = "import time\n_t0 = time.perf_counter()\n{statement}\nprint(time.perf_counter() - _t0)\n"
_LOADED = (
    "import json, sys\n"
    "import closim.cli\n"
    "print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
)


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"subprocess failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


def import_seconds(statement: str, runs: int) -> float:
    """Median wall time of ``statement`` over ``runs`` fresh interpreters."""
    return statistics.median(float(_run(_TIMER.format(statement=statement))) for _ in range(runs))


def heavy_loaded() -> list[str]:
    """Which of :data:`HEAVY` are in ``sys.modules`` after ``import closim.cli``."""
    return json.loads(_run(_LOADED.format(heavy=HEAVY)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per case")
    args = parser.parse_args()

    times = {name: import_seconds(stmt, args.runs) for name, stmt in CASES.items()}
    control_time = import_seconds(CONTROL[1], args.runs)
    base = times["numpy + yaml + pydantic"]

    print(f"median of {args.runs} fresh interpreters, import statement only\n")
    print(f"{'import':<30} {'ms':>8} {'x baseline':>11}")
    for name, seconds in times.items():
        print(f"{name:<30} {seconds * 1e3:8.1f} {seconds / base:10.2f}x")
    cli_ratio = times["closim.cli"] / base
    passed = cli_ratio < TARGET_RATIO
    verdict = "PASS" if passed else "FAIL"
    print(f"\nclosim.cli / baseline = {cli_ratio:.2f}x (target < {TARGET_RATIO:g}x): {verdict}")
    control_ratio = control_time / base
    control_verdict = "PASS" if control_ratio < TARGET_RATIO else "FAIL"
    print(
        f"control, {CONTROL[0]}: {control_time * 1e3:.1f} ms = {control_ratio:.2f}x baseline "
        f"(would {control_verdict})"
    )

    loaded = heavy_loaded()
    print(f"\nheavy modules in sys.modules after import closim.cli: {', '.join(loaded) or 'none'}")
    return 0 if passed and not loaded else 1


if __name__ == "__main__":
    sys.exit(main())
