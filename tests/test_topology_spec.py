"""Topology specs: normalization, defaults, and a ConfigError naming the key for every bad value."""

from __future__ import annotations

import numpy as np
import pytest

from closim.model.errors import ConfigError
from closim.topology import build_layer, plan_layer

# (spec, in_features, out_features, key_path, text the message must contain)
BAD_SPECS = [
    (42, 8, 8, "topology", "valid kinds: dense, clos, monarch"),
    ("foo", 8, 8, "topology.kind", "valid kinds: dense, clos, monarch, butterfly"),
    ({"r": 2}, 8, 8, "topology.kind", "kind is required"),
    ({"kind": ["clos"]}, 8, 8, "topology.kind", "unknown topology kind"),
    ({"kind": "clos", "r": 7}, 1024, 1024, "topology.r", "(valid r: 1, 2, 4, ..., 1024) (got 7)"),
    ({"kind": "clos", "r": 3}, 12, 8, "topology.r", "valid r: 1, 2, 4"),
    ({"kind": "clos", "r": 0}, 8, 8, "topology.r", "r must be a positive integer (got 0)"),
    ({"kind": "clos", "r": -2}, 8, 8, "topology.r", "(got -2)"),
    ({"kind": "clos", "r": 2.0}, 8, 8, "topology.r", "(got 2.0)"),
    ({"kind": "clos", "r": "4"}, 8, 8, "topology.r", "(got '4')"),
    ({"kind": "clos", "r": True}, 8, 8, "topology.r", "(got True)"),
    ({"kind": "clos", "m": 0}, 8, 8, "topology.m", "m must be a positive integer"),
    ({"kind": "clos", "q": 1}, 8, 8, "topology.q", "allowed keys: init, kind, m, r"),
    ({"kind": "dense", "r": 1}, 8, 8, "topology.r", "allowed keys: init, kind"),
    ({"kind": "clos", "init": "he"}, 8, 8, "topology.init", "init must be one of: scaled_glorot"),
    ({"kind": "monarch", "blocks": 3}, 16, 16, "topology.blocks", "valid blocks: 1, 2, 4, 8, 16"),
    ({"kind": "monarch", "blocks": 4}, 16, 10, "topology.blocks", "(valid blocks: 8, 16)"),
    ({"kind": "monarch", "blocks": 0}, 16, 16, "topology.blocks", "(got 0)"),
    ({"kind": "butterfly"}, 12, 12, "topology.radix", "must be a power of radix=2"),
    ({"kind": "butterfly", "radix": 3}, 16, 16, "topology.radix", "valid radix for 16: 2, 4, 16"),
    ({"kind": "butterfly", "radix": 1}, 16, 16, "topology.radix", "radix >= 2"),
    ({"kind": "butterfly"}, 16, 8, "topology.kind", "butterfly needs a square layer"),
    ({"kind": "block_diagonal"}, 8, 8, "topology.blocks", "blocks is required"),
    ({"kind": "block_diagonal", "blocks": 3}, 8, 12, "topology.blocks", "valid blocks: 1, 2, 4"),
    ({"kind": "block_diagonal", "blocks": 2, "shuffle": "yes"}, 8, 8, "topology.shuffle", "true"),
    ({"kind": "low_rank"}, 8, 8, "topology.rank", "rank is required"),
    ({"kind": "low_rank", "rank": 0}, 8, 8, "topology.rank", "(got 0)"),
    ({"kind": "low_rank", "rank": 9}, 8, 10, "topology.rank", "at most min(in_features"),
    ({"kind": "unstructured"}, 8, 8, "topology.density", "exactly one of density, nnz or like"),
    ({"kind": "unstructured", "density": 0.5, "nnz": 3}, 8, 8, "topology.nnz", "exactly one"),
    ({"kind": "unstructured", "density": 0}, 8, 8, "topology.density", "0 < density <= 1"),
    ({"kind": "unstructured", "density": 1.5}, 8, 8, "topology.density", "(got 1.5)"),
    ({"kind": "unstructured", "density": "x"}, 8, 8, "topology.density", "density must be"),
    ({"kind": "unstructured", "density": True}, 8, 8, "topology.density", "(got True)"),
    ({"kind": "unstructured", "nnz": 0}, 8, 8, "topology.nnz", "nnz must be a positive"),
    ({"kind": "unstructured", "nnz": 65}, 8, 8, "topology.nnz", "valid nnz: 1 to 64"),
    ({"kind": "unstructured", "like": {"kind": "clos", "r": 3}}, 8, 8, "topology.like.r", "r=3"),
    ({"kind": "unstructured", "like": "bogus"}, 8, 8, "topology.like.kind", "valid kinds"),
    (
        {"kind": "unstructured", "like": {"kind": "low_rank", "rank": 4}},
        4,
        4,
        "topology.like",
        "32",
    ),
    ({"kind": "unstructured", "density": 0.5, "seed": -1}, 8, 8, "topology.seed", "(got -1)"),
    (
        {"kind": "unstructured", "density": 0.5, "format": "coo"},
        8,
        8,
        "topology.format",
        "format must be one of: csr, relative, bitmask (got 'coo')",
    ),
    ({"kind": "unstructured", "nnz": 3, "format": 4}, 8, 8, "topology.format", "(got 4)"),
    ({"kind": "custom"}, 8, 8, "topology.stages", "stages must be a non-empty list"),
    ({"kind": "custom", "stages": []}, 8, 8, "topology.stages", "non-empty"),
    ({"kind": "custom", "stages": [3]}, 8, 8, "topology.stages.0", "stages.0 must be a mapping"),
    (
        {"kind": "custom", "stages": [{"blocks": 2, "block_in": 3, "block_out": 4}]},
        8,
        8,
        "topology.stages.0.block_in",
        "in_features=8 gives 8",
    ),
    (
        {"kind": "custom", "stages": [{"blocks": 2, "block_in": 4, "block_out": 3}]},
        8,
        8,
        "topology.stages.0.block_out",
        "out_features=8",
    ),
    (
        {
            "kind": "custom",
            "stages": [
                {"blocks": 2, "block_in": 4, "block_out": 4},
                {"blocks": 3, "block_in": 2, "block_out": 2},
            ],
        },
        8,
        6,
        "topology.stages.1.block_in",
        "stage 1 takes blocks*block_in=6 features but stage 0 gives 8",
    ),
    (
        {"kind": "custom", "stages": [{"blocks": 2, "block_in": 4, "block_out": 4, "z": 1}]},
        8,
        8,
        "topology.stages.0.z",
        "allowed keys: block_in, block_out, blocks, shuffle",
    ),
    (
        {
            "kind": "custom",
            "stages": [{"blocks": 2, "block_in": 4, "block_out": 4, "shuffle": [3, 3]}],
        },
        8,
        8,
        "topology.stages.0.shuffle",
        "multiply to the stage's blocks*block_out=8",
    ),
    (
        {
            "kind": "custom",
            "stages": [{"blocks": 1, "block_in": 8, "block_out": 8, "shuffle": [2, 2, 2]}],
        },
        8,
        8,
        "topology.stages.0.shuffle",
        "shuffle must be [a, b]",
    ),
    (
        {
            "kind": "custom",
            "stages": [
                {
                    "blocks": 1,
                    "block_in": 8,
                    "block_out": 8,
                    "shuffle": {"shape": [2, 4], "axes": [0, 0]},
                }
            ],
        },
        8,
        8,
        "topology.stages.0.shuffle.axes",
        "axes must list 0..1",
    ),
    ("dense", 0, 8, "in_features", "in_features must be a positive integer (got 0)"),
    ("dense", 8, -1, "out_features", "(got -1)"),
]


@pytest.mark.parametrize(("spec", "n_in", "n_out", "key_path", "text"), BAD_SPECS)
def test_bad_specs_raise_located_config_errors(
    spec: object, n_in: int, n_out: int, key_path: str, text: str
) -> None:
    with pytest.raises(ConfigError) as info:
        plan_layer(spec, n_in, n_out)
    err = info.value
    assert err.key_path == key_path
    assert text in err.message
    assert "(got " in err.message and err.message.endswith(")")
    # the message names the parameter it is about
    assert key_path.rsplit(".", 1)[-1] in err.message or key_path == "topology"
    assert str(err) == f"{key_path}: {err.message}"
    with pytest.raises(ConfigError):
        build_layer(spec, n_in, n_out)


def test_error_can_be_relocated_into_a_config_file() -> None:
    with pytest.raises(ConfigError) as info:
        plan_layer({"kind": "clos", "r": 7}, 1024, 1024)
    moved = info.value.located(source="wl.yaml", prefix="layers.fc7")
    assert str(moved).startswith("wl.yaml: layers.fc7.topology.r: r=7 must divide in_features=1024")


def test_bad_dtype_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dtype must be float32 or float64"):
        build_layer("dense", 4, 4, dtype=np.int32)


@pytest.mark.parametrize(
    ("spec", "n_in", "n_out", "normalized"),
    [
        ("dense", 4, 3, {"kind": "dense"}),
        ({"kind": "dense"}, 4, 3, {"kind": "dense"}),
        ("clos", 1024, 1024, {"kind": "clos", "r": 32, "m": 32}),
        ({"kind": "clos", "r": 16}, 1024, 512, {"kind": "clos", "r": 16, "m": 64}),
        ({"kind": "clos", "m": 8}, 64, 64, {"kind": "clos", "r": 8, "m": 8}),
        ("clos", 2048, 2048, {"kind": "clos", "r": 32, "m": 64}),
        ("monarch", 1024, 1024, {"kind": "monarch", "blocks": 32}),
        ("monarch", 4096, 1024, {"kind": "monarch", "blocks": 128}),
        # 32 and 64 blocks give the same parameter count at 2048: the smaller wins
        ("monarch", 2048, 2048, {"kind": "monarch", "blocks": 32}),
        ("butterfly", 8, 8, {"kind": "butterfly", "radix": 2}),
        (
            {"kind": "block_diagonal", "blocks": 4},
            8,
            8,
            {"kind": "block_diagonal", "blocks": 4, "shuffle": False},
        ),
        ({"kind": "low_rank", "rank": 2}, 8, 8, {"kind": "low_rank", "rank": 2}),
        (
            {"kind": "unstructured", "like": "clos"},
            16,
            16,
            {"kind": "unstructured", "like": {"kind": "clos", "r": 4, "m": 4}, "seed": 0},
        ),
        # format: the default csr is left out of the normalized spec (as init is), others kept
        (
            {"kind": "unstructured", "nnz": 3, "format": "csr"},
            4,
            4,
            {"kind": "unstructured", "nnz": 3, "seed": 0},
        ),
        (
            {"kind": "unstructured", "nnz": 3, "format": "relative", "seed": 2},
            4,
            4,
            {"kind": "unstructured", "nnz": 3, "seed": 2, "format": "relative"},
        ),
        (
            {"kind": "unstructured", "density": 1, "init": "ones"},
            4,
            4,
            {"kind": "unstructured", "density": 1.0, "seed": 0, "init": "ones"},
        ),
        (
            {"kind": "custom", "stages": [{"blocks": 2, "block_in": 2, "block_out": 3}]},
            4,
            6,
            {
                "kind": "custom",
                "stages": [{"blocks": 2, "block_in": 2, "block_out": 3, "shuffle": None}],
            },
        ),
        (
            {"kind": "clos", "r": np.int64(4), "init": "scaled_glorot"},
            16,
            16,
            {"kind": "clos", "r": 4, "m": 4},
        ),
    ],
)
def test_specs_are_normalized_with_defaults(
    spec: object, n_in: int, n_out: int, normalized: dict
) -> None:
    plan = plan_layer(spec, n_in, n_out)
    assert plan.spec == normalized
    assert plan_layer(plan.spec, n_in, n_out) == plan


def test_default_clos_r_is_the_divisor_closest_to_sqrt() -> None:
    # gcd(1000, 600) = 200; sqrt(1000) = 31.6: divisors 25 and 40 -> 25 is closer
    assert plan_layer("clos", 1000, 600).spec["r"] == 25
    assert plan_layer("clos", 7, 7).spec == {"kind": "clos", "r": 1, "m": 7}


def test_plan_reports_stage_shapes() -> None:
    plan = plan_layer({"kind": "clos", "r": 4, "m": 5}, 8, 12)
    shapes = [(s.name, s.blocks, s.block_in, s.block_out) for s in plan.stages]
    assert shapes == [("ingress", 4, 2, 5), ("middle", 5, 4, 4), ("egress", 4, 5, 3)]
    assert [s.perm_out.shape if s.perm_out else None for s in plan.stages] == [(4, 5), (5, 4), None]
    assert [(s.in_features, s.out_features) for s in plan.stages] == [(8, 20), (20, 20), (20, 12)]
    assert plan.macs(3) == 3 * plan.num_params and plan.weight_bytes(2) == 2 * plan.num_params
    sparse = plan_layer({"kind": "unstructured", "nnz": 10}, 8, 12).stages[0]
    # stored CSR: 12 columns fit uint16 (2 bytes per column index), 9 int32 row pointers
    assert sparse.sparse and sparse.nnz == 10 and sparse.index_bytes == 10 * 2 + 9 * 4
