"""A GPT-3-sized training step: how long closim takes to map and simulate it.

Run: ``python benchmarks/scale.py [--hw NAME ...] [--engine analytic des] [--blocks N]
[--mode training|inference]`` from the repository root (default: h100-like and tpu-v4, both
engines, 96 blocks, training).

The workload (built here, not bundled; figures cited in docs/references.md §14.7): GPT-3 175B's
linear layers (Brown et al. 2020, Table 2.1: 96 layers, d_model 12288, 2048-token context; FFN
4 x d_model = 49152), one 2048-token sequence per step (batch = 2048 tokens). closim's workloads
are chains of linear layers, so each block is four d_model x d_model projections (the MACs and
weights of Q, K, V and the attention output) and the FFN's two layers: 6 x 96 = 576 dense
layers, 174 billion weights. The attention score and context products (QK^T, AV), norms and
activations are not modelled.

Printed per hw: lowered operations, distinct GEMM mappings chosen, compute tiles and seconds to
map; per engine the seconds of the whole ``simulate`` (cold caches) and the simulated cycles,
seconds and TFLOP/s. The DES is skipped above ``--max-des-tiles`` compute tiles (it plays one row
per tile). Targets (PASS/FAIL) on h100-like, training: analytic <= 5 s, DES <= 30 s.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from closim.api import lower_workload, simulate
from closim.config import load_hw
from closim.mapping.cache import CHOICES, clear_caches
from closim.mapping.mapper import map_program
from closim.model.workload import LayerSpec, Workload

ROOT = Path(__file__).resolve().parents[1]
D_MODEL = 12288
FFN = 4 * D_MODEL
TOKENS = 2048
TARGETS_S = {"analytic": 5.0, "des": 30.0}


def gpt3_workload(blocks: int = 96, mode: str = "training") -> Workload:
    """GPT-3 175B's linear layers as a chain of dense layers (see the module docstring)."""
    layers = []
    for b in range(blocks):
        for name in ("q", "k", "v", "o"):
            layers.append(LayerSpec(f"b{b}.{name}", D_MODEL, D_MODEL))
        layers.append(LayerSpec(f"b{b}.ffn1", D_MODEL, FFN))
        layers.append(LayerSpec(f"b{b}.ffn2", FFN, D_MODEL))
    return Workload(
        name=f"gpt3-{blocks}", batch=TOKENS, layers=tuple(layers), mode=mode, optimizer="adam",
        dtype="fp16", description="GPT-3 175B linear layers", source="Brown et al. 2020",
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hw", nargs="*", default=["h100-like", "tpu-v4"])
    parser.add_argument("--engine", nargs="*", default=["analytic", "des"])
    parser.add_argument("--blocks", type=int, default=96)
    parser.add_argument("--mode", default="training", choices=["training", "inference"])
    parser.add_argument("--max-des-tiles", type=int, default=5_000_000)
    args = parser.parse_args()
    wl = gpt3_workload(args.blocks, args.mode)
    weights = sum(s.in_features * s.out_features for s in wl.layers)
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, cpus {os.cpu_count()}")
    print(f"{wl.name}: {len(wl.layers)} layers, {weights / 1e9:.1f} G weights, {TOKENS} tokens, "
          f"{args.mode}")  # fmt: skip
    for hw_name in args.hw:
        hw = load_hw(ROOT / "hw_configs" / f"{hw_name}.yaml")
        clear_caches()
        t0 = time.perf_counter()
        program = lower_workload(hw, wl, args.mode, wl.batch)
        trace = map_program(program, hw)
        t_map = time.perf_counter() - t0
        tiles = sum(m.tiles for m in trace.mappings)
        print(f"{hw_name}: {len(program.ops):,} operations, {len(CHOICES):,} distinct GEMM "
              f"choices, {tiles:,} compute tiles (rows deferred), map {t_map:.2f} s",
              flush=True)  # fmt: skip
        del trace
        for engine in args.engine:
            if engine == "des" and tiles > args.max_des_tiles:
                print(f"  des      skipped: {tiles:,} tiles > --max-des-tiles "
                      f"{args.max_des_tiles:,} (the DES plays one row per tile)")  # fmt: skip
                continue
            clear_caches()
            t0 = time.perf_counter()
            result = simulate(hw, wl, engine=engine, mode=args.mode)
            seconds = time.perf_counter() - t0
            flops = 2 * result.totals.macs
            verdict = ""
            if hw_name == "h100-like" and args.mode == "training" and args.blocks == 96:
                target = TARGETS_S[engine]
                verdict = f"  target <= {target:g} s: {'PASS' if seconds <= target else 'FAIL'}"
            print(
                f"  {engine:8} simulate {seconds:7.2f} s: {result.totals.cycles:,} cycles = "
                f"{result.seconds * 1e3:.1f} ms simulated, "
                f"{flops / result.seconds / 1e12:.0f} TFLOP/s{verdict}",
                flush=True,
            )


if __name__ == "__main__":
    main()
