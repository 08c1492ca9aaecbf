"""``closim topology``: its figures come from independent closed forms and the layer's own paths."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from closim.topology import build_layer, plan_layer


def topology(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "closim", "topology", *args], capture_output=True, text=True
    )


@pytest.mark.parametrize(("n", "r", "m"), [(1024, 32, 32), (4096, 64, 64), (96, 4, 6)])
def test_clos_summary_matches_closed_forms(n, r, m):
    proc = topology("--in", str(n), "--out", str(n), "--spec", f"{{kind: clos, r: {r}, m: {m}}}",
                    "--format", "json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    clos, dense = data["topology"], data["dense"]
    k = n // r
    params = r * m * k + m * r * r + r * m * k  # ingress + middle + egress
    assert clos["params"] == params == clos["macs_per_sample"]
    assert dense["params"] == n * n
    assert clos["compression"] == pytest.approx(n * n / params)
    assert clos["index_bytes"] == 0
    assert (clos["paths_min"], clos["paths_max"]) == (m, m)  # every pair through each middle block
    assert (dense["paths_min"], dense["paths_max"]) == (1, 1)
    shapes = [(s["blocks"], s["block_in"], s["block_out"]) for s in clos["stages"]]
    assert shapes == [(r, k, m), (m, r, r), (r, m, k)]


def test_unstructured_summary_counts_its_indices_and_paths():
    spec = "{kind: unstructured, like: {kind: clos, r: 8, m: 8}, seed: 3}"
    proc = topology("--in", "64", "--spec", spec, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)["topology"]
    assert data["params"] == 3 * 8**3  # the same non-zero count as the clos layer
    # stored CSR (the default format): 64 columns fit uint16 column indices (2 bytes each), plus
    # 65 int32 row pointers; the executed SciPy arrays are int32 but are not what is stored
    assert data["index_bytes"] == 2 * data["params"] + 65 * 4
    layer = build_layer({"kind": "unstructured", "like": {"kind": "clos", "r": 8, "m": 8},
                         "seed": 3}, 64, 64)  # fmt: skip
    counts = (layer.dense() != 0).astype(int)
    assert (data["paths_min"], data["paths_max"]) == (counts.min(), counts.max())
    assert np.count_nonzero(layer.dense()) == data["params"]


def test_unstructured_summary_follows_the_index_format():
    base = "kind: unstructured, like: {kind: clos, r: 8, m: 8}, seed: 3"
    sizes = {}
    for fmt in ("relative", "bitmask"):
        proc = topology("--in", "64", "--spec", f"{{{base}, format: {fmt}}}", "--format", "json")
        assert proc.returncode == 0, proc.stderr
        data = json.loads(proc.stdout)["topology"]
        assert data["params"] == 3 * 8**3 and data["spec"]["format"] == fmt
        sizes[fmt] = data["index_bytes"]
    assert sizes["bitmask"] == 64 * 64 // 8 + 65 * 4  # one bit per position, 65 row pointers
    # 4 bits per entry, padding included (at least the 1,536 non-zeros), plus the row pointers
    assert sizes["relative"] >= 1536 * 4 // 8 + 65 * 4
    spec = {"kind": "unstructured", "like": {"kind": "clos", "r": 8, "m": 8}, "seed": 3}
    assert sizes["relative"] == plan_layer({**spec, "format": "relative"}, 64, 64).index_bytes
    bad = topology("--in", "64", "--spec", f"{{{base}, format: coo}}")
    assert bad.returncode == 2 and "format must be one of: csr, relative, bitmask" in bad.stderr


def test_table_output_and_errors():
    proc = topology("--in", "4096", "--out", "4096", "--spec", "{kind: clos, r: 64, m: 64}")
    assert proc.returncode == 0
    assert "786,432" in proc.stdout and "16,777,216" in proc.stdout and "64 / 64" in proc.stdout
    bad = topology("--in", "1024", "--spec", "{kind: clos, r: 7}")
    assert bad.returncode == 2
    assert bad.stderr.startswith("closim: error: ") and "r" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    bad = topology("--in", "1024", "--spec", "{kind: klos}")
    assert bad.returncode == 2 and "kind" in bad.stderr
