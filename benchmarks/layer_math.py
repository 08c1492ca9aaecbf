"""One training step's layer math: Clos vs dense vs SciPy CSR with Clos's non-zero count.

Run: ``python benchmarks/layer_math.py`` (under a minute). For N=1024 (clos r=m=32) and N=4096
(r=m=64), batch 256, float32, it times forward, backward (backward-data and weight gradient) and
the whole step of: the closim clos layer; dense ``x @ W``, ``g @ W.T``, ``x.T @ g``; and the closim
unstructured layer with clos's non-zero count (SciPy CSR forward and backward-data, weight gradient
sampled on the mask). Once with OpenBLAS limited to one thread, once with its default thread count.
It prints median times of interleaved rounds, the measured speedups clos/dense and clos/CSR, and
the ideal speedup (dense MACs / clos MACs).
Targets: clos reaches at least half the ideal speedup over dense and is at least 5x faster than CSR.

Reading the threaded numbers: OpenBLAS runs a GEMM of m*n*k <= 262,144 (256 x 32 x 32, the clos
blocks at N=1024) on one thread, while the dense GEMMs use every thread, so with several threads
the N=1024 comparison is not core for core. Splitting the batch over Python threads was tried and
measured slower at the median (see closim/topology/stage.py). Threaded OpenBLAS also degrades far
more on small block GEMMs than on big dense ones when another process holds a core.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from closim.topology import Layer, build_layer

BATCH = 256
DTYPE = np.float32
CASES = ((1024, 32), (4096, 64))  # (N, r = m)


def interleaved_medians(
    fns: dict[str, Callable[[], object]], rounds: int, budget_s: float = 20.0
) -> tuple[dict[str, float], int]:
    """Median wall time (ms) of each function, timed round-robin so that all of them see the
    same machine load (other processes on a shared machine shift single measurements a lot).
    Runs ``rounds`` rounds, or fewer (at least 5) once ``budget_s`` seconds have passed."""
    for fn in fns.values():
        fn()  # warm-up: first touch of buffers, lazy imports
    times: dict[str, list[float]] = {name: [] for name in fns}
    begin = time.perf_counter()
    done = 0
    while done < rounds and (done < 5 or time.perf_counter() - begin < budget_s):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
        done += 1
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}, done


def layer_passes(layer: Layer, x: np.ndarray, g: np.ndarray) -> dict[str, Callable[[], object]]:
    """Forward, backward (data + weight gradient) and the whole step of a closim layer."""

    def step() -> None:
        layer.forward(x)
        layer.backward(g)

    layer.forward(x)
    return {
        "forward": lambda: layer.forward(x),
        "backward": lambda: layer.backward(g),
        "step": step,
    }


def dense_passes(w: np.ndarray, x: np.ndarray, g: np.ndarray) -> dict[str, Callable[[], object]]:
    """``x @ W``, then ``g @ W.T`` and ``x.T @ g``, and the whole step."""

    def backward() -> None:
        _ = g @ w.T
        _ = x.T @ g

    def step() -> None:
        _ = x @ w
        backward()

    return {"forward": lambda: x @ w, "backward": backward, "step": step}


def run_case(n: int, r: int, rounds: int) -> tuple[dict[str, dict[str, float]], int, int]:
    """Median ms per (implementation, pass) at width ``n``, clos's weight count, rounds run."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, n), dtype=DTYPE)
    g = rng.standard_normal((BATCH, n), dtype=DTYPE)
    clos_spec = {"kind": "clos", "r": r, "m": r}
    clos = build_layer(clos_spec, n, n, dtype=DTYPE)
    csr = build_layer({"kind": "unstructured", "like": clos_spec}, n, n, dtype=DTYPE)
    w = rng.standard_normal((n, n), dtype=DTYPE)
    assert csr.num_params == clos.num_params
    impls = {
        "clos": layer_passes(clos, x, g),
        "dense": dense_passes(w, x, g),
        "csr": layer_passes(csr, x, g),
    }
    flat = {f"{impl}/{p}": fn for impl, passes in impls.items() for p, fn in passes.items()}
    medians, done = interleaved_medians(flat, rounds)
    table = {impl: {p: medians[f"{impl}/{p}"] for p in passes} for impl, passes in impls.items()}
    return table, clos.num_params, done


def blas_threads() -> str:
    """The BLAS libraries loaded and their current thread counts."""
    return ", ".join(
        f"{i['internal_api']}: {i['num_threads']} thread(s)" for i in threadpool_info()
    )


def main() -> None:
    """Run every case under both thread settings and print the table."""
    print(
        f"closim layer math: one training step, batch {BATCH}, {np.dtype(DTYPE).name}, times in ms"
    )
    print("backward = backward-data + weight gradient; step = forward + backward")
    summary = []
    for n, r in CASES:
        rounds = 25 if n <= 1024 else 11
        for label, limit in (("threadpool_limits(1)", 1), ("default threads", None)):
            with threadpool_limits(limits=limit):
                threads = blas_threads()
                res, params, done = run_case(n, r, rounds)
            ideal = n * n / params
            print(
                f"\nN={n}, clos r=m={r} ({params:,} weights vs {n * n:,} dense), {label}: "
                f"{threads}, median of {done} interleaved rounds"
            )
            print(f"  {'':6} {'forward':>9} {'backward':>9} {'step':>9}")
            for name, t in res.items():
                print(f"  {name:6} {t['forward']:9.3f} {t['backward']:9.3f} {t['step']:9.3f}")
            vs_dense = res["dense"]["step"] / res["clos"]["step"]
            vs_csr = res["csr"]["step"] / res["clos"]["step"]
            ok_dense = "ok" if vs_dense >= ideal / 2 else "MISSED"
            ok_csr = "ok" if vs_csr >= 5 else "MISSED"
            print(
                f"  step speedup clos/dense {vs_dense:6.2f}x  (ideal = dense MACs / clos MACs = "
                f"{ideal:.2f}x; target >= {ideal / 2:.2f}x: {ok_dense})"
            )
            print(f"  step speedup clos/CSR   {vs_csr:6.2f}x  (target >= 5x: {ok_csr})")
            summary.append((n, label, threads, vs_dense, ideal, vs_csr))
    print("\nsummary (step speedups, same run):")
    print(f"  {'N':>5}  {'BLAS threads':<34} {'clos/dense':>10} {'ideal':>7} {'clos/CSR':>9}")
    for n, label, threads, vs_dense, ideal, vs_csr in summary:
        setting = f"{label} ({threads.split(': ')[-1]})"
        print(f"  {n:>5}  {setting:<34} {vs_dense:9.2f}x {ideal:6.2f}x {vs_csr:8.2f}x")


if __name__ == "__main__":
    main()
