"""The config layer: bundled files, extends, overrides, derived values, records, errors (API)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml

from closim.config import (
    defaults,
    list_bundled,
    load_hw,
    load_workload,
    load_yaml_file,
    parse_set_options,
    resolve_path,
    resolved_config,
    validate,
)
from closim.config.validate import PositiveInt, Schema
from closim.model.errors import ConfigError
from closim.model.hw import Accelerator
from closim.model.workload import FrozenSpec, Workload
from tests.conftest import MINIMAL_HW_YAML, write_config

ROOT = Path(__file__).resolve().parents[1]
HW_FILES = sorted((ROOT / "hw_configs").glob("*.yaml"))
WORKLOAD_FILES = sorted((ROOT / "workloads").glob("*.yaml"))

REQUIRED_HW = {
    "tpu-v1", "tpu-v4", "eyeriss-v1", "nvdla-large", "edge-npu", "h100-like", "scalesim-32x32",
}  # fmt: skip
REQUIRED_WORKLOADS = {
    "lenet-300-100", "alexnet-fc", "vgg16-fc", "bert-base-ffn", "gpt2-ffn", "closnet-1024", "gemm",
    "alexnet-fc-clos", "vgg16-fc-clos", "bert-base-ffn-clos", "closnet-1024-clos",
}  # fmt: skip

MINIMAL_HW = MINIMAL_HW_YAML

MINIMAL_WORKLOAD = """\
batch: 8
layers:
  a: {in_features: 64, out_features: 64, topology: {kind: clos, r: 8, m: 8}}
  b: {in_features: 64, out_features: 10}
"""


write = write_config


def error_of(func, *args, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        func(*args, **kwargs)
    return info.value


# --- bundled files -------------------------------------------------------------------------------


def test_required_bundled_files_exist():
    assert {p.stem for p in HW_FILES} >= REQUIRED_HW
    assert {p.stem for p in WORKLOAD_FILES} >= REQUIRED_WORKLOADS


@pytest.mark.parametrize("path", HW_FILES, ids=lambda p: p.stem)
def test_every_bundled_hw_config_loads(path: Path):
    hw = load_hw(path)
    assert isinstance(hw, Accelerator)
    assert hw.name == path.stem and hw.description and hw.source
    energies = [
        hw.pe_array.mac_pj,
        hw.sram.read_pj_per_byte,
        hw.sram.write_pj_per_byte,
        hw.dram.pj_per_bit,
        hw.vector_unit.pj_per_op,
        hw.static_power_mw,
    ]
    assert all(math.isfinite(e) and e > 0 for e in energies)
    assert hw.total_pes == hw.pe_array.rows * hw.pe_array.cols * hw.pe_array.count
    assert hw.dram_bytes_per_cycle > 0
    text = path.read_text()
    assert text.startswith("#") and "[asm]" in text, "header comment with citations and [asm]"


@pytest.mark.parametrize("path", WORKLOAD_FILES, ids=lambda p: p.stem)
def test_every_bundled_workload_loads(path: Path):
    wl = load_workload(path)
    assert isinstance(wl, Workload)
    assert wl.name == path.stem and wl.description and wl.source
    for prev, layer in zip(wl.layers, wl.layers[1:], strict=False):
        assert prev.out_features == layer.in_features
    assert path.read_text().startswith("#")


def test_bundled_workload_shapes():
    widths = {
        "lenet-300-100": [784, 300, 100, 10],
        "alexnet-fc": [9216, 4096, 4096, 1000],
        "vgg16-fc": [25088, 4096, 4096, 1000],
        "bert-base-ffn": [768, 3072, 768],
        "gpt2-ffn": [768, 3072, 768],
        "closnet-1024": [1024, 1024, 1024, 1024],
        "gemm": [784, 300],
    }
    for name, expected in widths.items():
        wl = load_workload(name)
        assert [wl.layers[0].in_features] + [layer.out_features for layer in wl.layers] == expected
        assert all(layer.topology == "dense" for layer in wl.layers), name
    assert load_workload("gemm").batch == 64
    assert load_workload("alexnet-fc").layer_names == ("fc6", "fc7", "fc8")
    assert load_workload("gemm").layer_names == ("gemm",)


def test_clos_variants_compress_and_inherit():
    from closim.topology import plan_layer

    for name in ("alexnet-fc", "vgg16-fc", "bert-base-ffn", "closnet-1024"):
        dense, clos = load_workload(name), load_workload(f"{name}-clos")
        assert clos.batch == dense.batch and clos.mode == dense.mode
        assert [(x.in_features, x.out_features) for x in clos.layers] == [
            (x.in_features, x.out_features) for x in dense.layers
        ]
        params = sum(
            plan_layer(x.topology, x.in_features, x.out_features).num_params for x in clos.layers
        )
        dense_params = sum(x.in_features * x.out_features for x in dense.layers)
        assert dense_params / params > 9, name
        assert clos.densified().layers == dense.layers
    alex = load_workload("alexnet-fc-clos")
    assert alex.layer("fc6").topology == {"kind": "clos", "r": 64, "m": 64}
    assert alex.layer("fc8").topology == "dense"


def test_scalesim_config_matches_scalesim_defaults():
    hw = load_hw("scalesim-32x32")
    assert (hw.pe_array.rows, hw.pe_array.cols, hw.pe_array.dataflow) == (32, 32, "ws")
    assert hw.fold_model == "scalesim"
    p = hw.sram.partitions
    assert p is not None
    assert (p.activations_bytes, p.weights_bytes, p.partial_sums_bytes) == (
        256 * 1024, 256 * 1024, 128 * 1024,
    )  # fmt: skip


def test_tpu_configs():
    v1, v4 = load_hw("tpu-v1"), load_hw("tpu-v4")
    assert v1.fold_model == "pipelined" and v1.widths.weights_bytes == 1
    assert v1.dram_bytes_per_cycle == pytest.approx(34e9 / 700e6)
    assert (v4.pe_array.count, v4.pe_array.rows, v4.pe_array.cols) == (4, 128, 128)
    assert v4.widths.weights_bytes == 2


def test_list_bundled_and_resolve_names():
    entries = list_bundled()
    names = {(e.kind, e.name) for e in entries}
    assert {("hw", n) for n in REQUIRED_HW} <= names
    assert {("workload", n) for n in REQUIRED_WORKLOADS} <= names
    assert all(e.description and not e.description.startswith("(cannot") for e in entries)
    assert resolve_path("tpu-v1", "hw").resolve() == (ROOT / "hw_configs/tpu-v1.yaml").resolve()
    assert resolve_path("gemm.yaml", "auto").resolve() == (ROOT / "workloads/gemm.yaml").resolve()
    assert load_hw("tpu-v1") == load_hw(ROOT / "hw_configs" / "tpu-v1.yaml")
    err = error_of(resolve_path, "tpu-v11", "hw")
    assert str(err).startswith("tpu-v11: no such file") and "did you mean 'tpu-v1'?" in str(err)
    assert "did you mean" not in str(error_of(resolve_path, "zzzzzzzz", "workload"))


# --- extends -------------------------------------------------------------------------------------


def test_extends_merges_deeply_and_replaces_topology_whole(tmp_path: Path):
    write(tmp_path / "base.yaml", MINIMAL_WORKLOAD + "name: base\ndescription: the base\n")
    child = write(
        tmp_path / "sub" / "child.yaml",
        "extends: ../base.yaml\nbatch: 16\nlayers:\n  a: {topology: {kind: monarch}}\n"
        "  c: {in_features: 10, out_features: 5}\n",
    )
    wl = load_workload(child)
    assert wl.name == "child", "name is not inherited: it defaults to the file's own stem"
    assert wl.description == "the base" and wl.batch == 16
    assert wl.layer_names == ("a", "b", "c")
    assert wl.layer("a").topology == {"kind": "monarch"}, "r and m must not leak"
    assert wl.layer("a").in_features == 64


def test_extends_hw_three_levels(tmp_path: Path):
    write(tmp_path / "a.yaml", MINIMAL_HW)
    write(tmp_path / "b.yaml", "extends: a.yaml\npe_array: {rows: 16}\ndram: {latency_ns: 5}\n")
    c = write(tmp_path / "c.yaml", "extends: b.yaml\npe_array: {cols: 8}\n")
    hw = load_hw(c)
    assert (hw.pe_array.rows, hw.pe_array.cols, hw.dram.latency_ns) == (16, 8, 5.0)
    shown = resolved_config(c, "hw")
    assert [Path(p).name for p in shown["extends"]] == ["b.yaml", "a.yaml"]


def test_error_in_parent_names_the_parent(tmp_path: Path):
    write(tmp_path / "a.yaml", MINIMAL_HW.replace("latency_ns: 100", "latency_ns: -1"))
    c = write(tmp_path / "c.yaml", "extends: a.yaml\n")
    err = error_of(load_hw, c)
    assert err.source.endswith("a.yaml") and err.key_path == "dram.latency_ns"


def test_conflict_is_reported_where_it_was_introduced(tmp_path: Path):
    write(tmp_path / "w.yaml", MINIMAL_WORKLOAD)
    child = write(tmp_path / "v.yaml", "extends: w.yaml\nlayers: {a: {out_features: 32}}\n")
    err = error_of(load_workload, child)
    assert err.source.endswith("v.yaml") and err.key_path == "layers.a.out_features"
    err = error_of(load_workload, tmp_path / "w.yaml", {"layers.b.in_features": 60})
    assert str(err).startswith("--set: workload.layers.b.in_features: must equal")


def test_extends_cycle_and_missing(tmp_path: Path):
    write(tmp_path / "x.yaml", "extends: y.yaml\n")
    write(tmp_path / "y.yaml", "extends: x.yaml\n")
    err = error_of(load_hw, tmp_path / "x.yaml")
    assert err.key_path == "extends" and "cycle" in err.message
    write(tmp_path / "self.yaml", "extends: self.yaml\n")
    assert "cycle" in error_of(load_hw, tmp_path / "self.yaml").message
    write(tmp_path / "m.yaml", "extends: nowhere.yaml\n")
    err = error_of(load_hw, tmp_path / "m.yaml")
    assert err.key_path == "extends" and "no such file" in err.message
    write(tmp_path / "t.yaml", "extends: 5\n")
    assert error_of(load_hw, tmp_path / "t.yaml").key_path == "extends"


# --- overrides -----------------------------------------------------------------------------------


def test_overrides_relative_or_prefixed(tmp_path: Path):
    hw_file = write(tmp_path / "hw.yaml", MINIMAL_HW)
    a = load_hw(hw_file, {"pe_array.rows": 64})
    b = load_hw(hw_file, {"hw.pe_array.rows": 64})
    c = load_hw(hw_file, ["hw.pe_array.rows=64"])
    d = load_hw(hw_file, parse_set_options(["hw.pe_array.rows=64", "workload.batch=2"]))
    assert a == b == c == d and a.pe_array.rows == 64 and a.pe_array.cols == 32


def test_override_mapping_merges_but_topology_replaces(tmp_path: Path):
    hw = load_hw(write(tmp_path / "hw.yaml", MINIMAL_HW), {"hw.dram": {"bandwidth_gb_per_s": 99}})
    assert hw.dram.bandwidth_gb_per_s == 99 and hw.dram.latency_ns == 100
    wl_file = write(tmp_path / "wl.yaml", MINIMAL_WORKLOAD)
    wl = load_workload(wl_file, {"workload.layers.a.topology": {"kind": "monarch"}})
    assert wl.layer("a").topology == {"kind": "monarch"}
    wl = load_workload(wl_file, ["workload.layers.a.topology.m=16", "workload.batch=3"])
    assert wl.layer("a").topology == {"kind": "clos", "r": 8, "m": 16} and wl.batch == 3


def test_override_fills_an_absent_section(tmp_path: Path):
    hw = load_hw(write(tmp_path / "hw.yaml", MINIMAL_HW), {"accumulator.capacity_bytes": 4096})
    assert hw.accumulator is not None and hw.accumulator.capacity_bytes == 4096
    assert "accumulator.read_pj_per_byte" in hw.derived


def test_override_errors_name_the_option(tmp_path: Path):
    hw_file = write(tmp_path / "hw.yaml", MINIMAL_HW)
    assert str(error_of(load_hw, hw_file, {"hw.pe_array.rows": 0})).startswith(
        "--set: hw.pe_array.rows: must be greater than 0"
    )
    assert str(error_of(load_hw, hw_file, {"pe_array.rwos": 3})).startswith(
        "--set: hw.pe_array.rwos: unknown key; did you mean 'rows'?"
    )
    assert str(error_of(load_hw, hw_file, {"clock_mhz.x": 3})).startswith(
        "--set: hw.clock_mhz.x: cannot set a key inside 'clock_mhz'"
    )
    assert str(error_of(load_hw, hw_file, ["workload.batch=3"])).startswith(
        "--set: workload.batch: applies to a workload config"
    )
    wl_file = write(tmp_path / "wl.yaml", MINIMAL_WORKLOAD)
    err = error_of(load_workload, wl_file, {"workload.layers.a.topology": {"kind": "clos", "r": 7}})
    assert str(err).startswith("--set: workload.layers.a.topology.r:")
    err = error_of(load_workload, wl_file, {"batch": 0})
    assert str(err) == "--set: workload.batch: must be greater than 0 (got 0)"


def test_parse_set_options():
    parsed = parse_set_options(
        [
            "hw.pe_array.rows=64",
            "workload.layers.fc7.topology={kind: clos, r: 32, m: 32}",
            "hw.dram.bandwidth_gb_per_s = 100.5",
            "workload.mode=training",
            "hw.pe_array.rows=128",
            "hw.sram.read_pj_per_byte=null",
        ]
    )
    assert parsed == {
        "hw": {
            "dram.bandwidth_gb_per_s": 100.5,
            "pe_array.rows": 128,
            "sram.read_pj_per_byte": None,
        },
        "workload": {"layers.fc7.topology": {"kind": "clos", "r": 32, "m": 32}, "mode": "training"},
    }
    assert list(parsed["hw"])[-2] == "pe_array.rows", "a repeated path is applied last"
    assert parse_set_options([]) == {"hw": {}, "workload": {}}


@pytest.mark.parametrize(
    ("item", "starts"),
    [
        ("hw.pe_array.rows", "--set: expected PATH=VALUE"),
        ("pe_array.rows=3", "--set: a path starts with hw. or workload."),
        ("hw=3", "--set: a path starts with hw. or workload."),
        ("hw..rows=3", "--set: a config path is keys joined by dots"),
        ("=3", "--set: a config path is keys joined by dots"),
        ("workload.batch=[1", "--set: workload.batch: the value is not valid YAML"),
        ("workload.layers={a: 1, a: 2}", "--set: workload.layers.a: the value is not valid YAML"),
    ],
)
def test_parse_set_options_errors(item: str, starts: str):
    err = error_of(parse_set_options, [item])
    assert err.source == "--set" and str(err).startswith(starts), str(err)


# --- derived values ------------------------------------------------------------------------------


def test_sqrt_law_anchors():
    assert defaults.sram_read_pj_per_byte(8192, 64, 45) == pytest.approx(10 / 8)
    assert defaults.sram_read_pj_per_byte(32768, 64, 45) == pytest.approx(20 / 8)
    assert defaults.sram_read_pj_per_byte(8192, 8, 45) == pytest.approx(10 / 8)  # narrow words
    # docs/references.md §3.2: ZigZag's 2 MiB / 2048-bit buffer at 28 nm -> ~464 pJ per access
    per_access = defaults.sram_read_pj_per_byte(2 * 2**20, 2048, 28) * 256
    assert per_access == pytest.approx(462, rel=0.01)
    assert defaults.sram_read_pj_per_byte(8192, 8192, 45) == defaults.sram_read_pj_per_byte(
        8192, 2048, 45
    )


def test_node_scaling_table_and_interpolation():
    for node, factor in defaults.NODE_ENERGY_SCALE.items():
        assert defaults.node_energy_scale(node) == factor
    assert 0.51 > defaults.node_energy_scale(25) > 0.29
    assert 0.080 > defaults.node_energy_scale(4) > 0.062
    assert defaults.node_energy_scale(90) > 1.24 and defaults.node_energy_scale(2) < 0.062


def test_derived_values_follow_the_config(tmp_path: Path):
    hw_file = write(tmp_path / "hw.yaml", MINIMAL_HW)
    hw = load_hw(hw_file)
    assert hw.sram.read_pj_per_byte == pytest.approx(1.25)
    assert hw.sram.write_pj_per_byte == pytest.approx(1.25 * defaults.SRAM_WRITE_OVER_READ)
    assert hw.vector_unit.lanes == 32 and hw.vector_unit.pj_per_op == pytest.approx(4.6)
    # leakage (docs/references.md §20.1): Aladdin's 40 nm int8 multiplier 0.08 x (8/32)^2 plus
    # 32-bit adder 0.0024 mW per PE, from 40 nm (log-log between 32 nm 0.66 and 45 nm 1.0) to
    # 45 nm; plus 0.02 mW per KiB
    k40 = 0.66 * (40 / 32) ** (math.log(1 / 0.66) / math.log(45 / 32))
    pe_mw = (0.08 / 16 + 0.0024) / k40
    assert hw.static_power_mw == pytest.approx(pe_mw * 1024 + 0.02 * 8)
    # clock: 56 register bits x Eyeriss's 0.39 x 278 mW / (168 x 200 MHz) / 576 bits, 65 -> 45 nm
    per_bit_pj = 0.39 * 278e-3 / (168 * 200e6) / 576 * 1e12
    assert hw.power.clock_pj_per_pe_cycle == pytest.approx(56 * per_bit_pj / 1.24)
    assert set(hw.derived) == {
        "sram.read_pj_per_byte",
        "sram.write_pj_per_byte",
        "vector_unit.lanes",
        "vector_unit.pj_per_op",
        "static_power_mw",
        "power.clock_pj_per_pe_cycle",
    }
    bigger = load_hw(hw_file, {"sram.capacity_bytes": 4 * 8192, "pe_array.count": 2})
    assert bigger.sram.read_pj_per_byte == pytest.approx(2 * hw.sram.read_pj_per_byte)
    assert bigger.static_power_mw > hw.static_power_mw
    given = load_hw(hw_file, {"sram.read_pj_per_byte": 2.0, "static_power_mw": 7})
    assert given.sram.read_pj_per_byte == 2.0 and given.static_power_mw == 7
    assert given.sram.write_pj_per_byte == pytest.approx(2.0 * defaults.SRAM_WRITE_OVER_READ)
    assert "sram.read_pj_per_byte" not in given.derived


# --- records -------------------------------------------------------------------------------------


def test_records_are_frozen_hashable_and_replaceable():
    hw = load_hw("tpu-v1")
    wl = load_workload("alexnet-fc-clos")
    assert len({hw, load_hw("tpu-v1")}) == 1 and len({wl, load_workload("alexnet-fc-clos")}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        hw.clock_mhz = 1  # type: ignore[misc]
    spec = wl.layer("fc6").topology
    assert isinstance(spec, FrozenSpec) and isinstance(spec, dict)
    with pytest.raises(TypeError):
        spec["r"] = 2
    smaller = dataclasses.replace(hw, pe_array=dataclasses.replace(hw.pe_array, rows=8))
    assert smaller.total_pes == 8 * 256
    dense = wl.densified()
    assert all(layer.topology == "dense" for layer in dense.layers) and dense.batch == wl.batch
    assert wl.layer("fc6").kind == "clos" and dense.layer("fc6").kind == "dense"


# --- closim show ---------------------------------------------------------------------------------


def test_resolved_config_is_plain_complete_and_round_trips(tmp_path: Path):
    for name, kind in (("tpu-v1", "hw"), ("h100-like", "hw"), ("alexnet-fc-clos", "workload")):
        shown = resolved_config(name, "auto", ["hw.dram.latency_ns=5"] if kind == "hw" else None)
        assert shown["kind"] == kind
        json.dumps(shown)
        yaml.safe_dump(shown)
        copy = write(tmp_path / kind / f"{name}.yaml", yaml.safe_dump(shown["config"]))
        if kind == "hw":
            again = load_hw(copy)
            assert dataclasses.replace(again, derived=()) == dataclasses.replace(
                load_hw(name, {"dram.latency_ns": 5}), derived=()
            )
            assert shown["overrides"] == {"hw.dram.latency_ns": 5}
        else:
            assert load_workload(copy) == load_workload(name)
    shown = resolved_config("tpu-v1", "hw")
    assert "sram.read_pj_per_byte" in shown["derived"] and "pe_array.split" in shown["defaults"]
    assert shown["summary"]["total_pes"] == 65536
    shown = resolved_config("alexnet-fc-clos", "workload")
    assert shown["summary"]["layers"]["fc7"]["params"] == 786432
    assert [Path(p).name for p in shown["extends"]] == ["alexnet-fc.yaml"]


def test_resolved_config_kind_detection(tmp_path: Path):
    assert resolved_config(write(tmp_path / "h.yaml", MINIMAL_HW))["kind"] == "hw"
    assert resolved_config(write(tmp_path / "w.yaml", MINIMAL_WORKLOAD))["kind"] == "workload"
    err = error_of(resolved_config, write(tmp_path / "x.yaml", "foo: 1\n"))
    assert "pass --kind" in err.message


# --- generic machinery and errors ----------------------------------------------------------------


class _Point(Schema):
    x: PositiveInt
    label: str = ""


def test_generic_validate():
    assert validate(_Point, {"x": 3}).x == 3
    err = error_of(validate, _Point, {"x": 3, "lable": "a"}, "sweep.yaml")
    assert str(err) == (
        "sweep.yaml: lable: unknown key; did you mean 'label'? allowed: x, label (got 'lable')"
    )
    assert str(error_of(validate, _Point, {"x": 2.5}, "s")) == "s: x: expected an integer (got 2.5)"


def test_load_yaml_file_errors(tmp_path: Path):
    assert error_of(load_yaml_file, tmp_path / "nope.yaml").message.startswith("no such file")
    assert error_of(load_yaml_file, tmp_path).message.startswith("is a directory")
    (tmp_path / "bin.yaml").write_bytes(b"a: \xff\xfe\n")
    assert error_of(load_yaml_file, tmp_path / "bin.yaml").message.startswith("not UTF-8")
    err = error_of(load_yaml_file, write(tmp_path / "s.yaml", "a: 1\nb: [1, 2\n"))
    assert "line 3, column 1: YAML syntax error" in err.message, err.message
    err = error_of(load_yaml_file, write(tmp_path / "t.yaml", "a:\n  b: 1\n\tc: 2\n"))
    assert err.message.startswith("line 3, column 1: YAML syntax error")
    err = error_of(load_yaml_file, write(tmp_path / "d.yaml", "a:\n  b: 1\n  b: 2\n"))
    assert err.key_path == "a.b" and "duplicate key" in err.message
    err = error_of(load_yaml_file, write(tmp_path / "k.yaml", "layers:\n  yes: 1\n"))
    assert err.key_path == "layers" and "quote it" in err.message
    assert error_of(load_yaml_file, write(tmp_path / "e.yaml", "# nothing\n")).message.startswith(
        "the file is empty"
    )
    assert load_yaml_file(write(tmp_path / "ok.yaml", "a: &x {b: 1}\nc: *x\n")) == {
        "a": {"b": 1},
        "c": {"b": 1},
    }


@pytest.mark.parametrize(
    ("text", "key_path", "message"),
    [
        ("pe_array: {rows: 32, cols: 32, dataflow: rs, mac_pj: 1}", "pe_array.dataflow",
         "expected one of 'ws', 'os' or 'is'"),
        ("pe_array: {rows: 32, cols: 32, dataflow: WS, mac_pj: 1}", "pe_array.dataflow",
         "did you mean 'ws'?"),
        ("pe_array: {rows: 32, cols: 32, dataflow: ws, mac_pj: 1, split: 3}", "pe_array.split",
         "must divide rows (32) and cols (32)"),
        ("sram: {capacity_bytes: 0, bytes_per_cycle: 8}", "sram.capacity_bytes",
         "must be greater than 0"),
        ("sram: {capacity_bytes: 100, bytes_per_cycle: 8, partitions: {weights_bytes: 50, "
         "activations_bytes: 50, partial_sums_bytes: 50}}", "sram.partitions", "add up to more"),
        ("dram: {bandwidth_gb_per_s: 0, latency_ns: 1, pj_per_bit: 1}", "dram.bandwidth_gb_per_s",
         "must be greater than 0"),
        ("accumulator: {read_pj_per_byte: 1}", "accumulator.capacity_bytes",
         "required key is missing: accumulator capacity in bytes (got nothing)"),
        ("clock_mhz: 1e3", "clock_mhz", "write 1.0e3"),
        ("clock_mhz: .inf", "clock_mhz", "expected a finite number"),
        ("mapping: {shuffle: noc}", "mapping.shuffle", "expected one of 'free' or 'sram_pass'"),
        ("noc_bytes_per_cycle: 64", "noc_bytes_per_cycle", "unknown key"),
        ("widths: 4", "widths", "expected a mapping of keys (got 4)"),
        ("clock_mhs: 4", "clock_mhs", "did you mean 'clock_mhz'?"),
    ],
)  # fmt: skip
def test_hw_errors(tmp_path: Path, text: str, key_path: str, message: str):
    write(tmp_path / "base.yaml", MINIMAL_HW)
    child = write(tmp_path / "child.yaml", f"extends: base.yaml\n{text}\n")
    err = error_of(load_hw, child)
    assert err.source.endswith("child.yaml") and err.key_path == key_path, str(err)
    assert message in err.message and err.message.endswith(")"), err.message


@pytest.mark.parametrize(
    ("text", "key_path", "message"),
    [
        ("batch: 0", "batch", "must be greater than 0 (got 0)"),
        ("batch: true", "batch", "expected an integer, not true/false"),
        ("mode: train", "mode", "did you mean 'training'?"),
        ("optimizer: adamw", "optimizer", "did you mean 'adam'?"),
        ("layers: {a: {topology: {kind: clos, r: 7, m: 8}}}", "layers.a.topology.r", "r=7"),
        ("layers: {a: {topology: {kind: clos, r: 8, m: 8, q: 1}}}", "layers.a.topology.q", ""),
        ("layers: {b: {in_features: 60}}", "layers.b.in_features",
         "must equal the out_features of the previous layer 'a' (64)"),
        ("layers: {b: {out_featurs: 60}}", "layers.b.out_featurs", "did you mean 'out_features'?"),
        ("layers: {b: 5}", "layers.b", "expected a mapping of keys (got 5)"),
        ("layers: {c: {in_features: 10}}", "layers.c.out_features", "required key is missing"),
        ("layers: {c d: {in_features: 10, out_features: 2}}", "layers.c d", "a layer name"),
    ],
)  # fmt: skip
def test_workload_errors(tmp_path: Path, text: str, key_path: str, message: str):
    write(tmp_path / "base.yaml", MINIMAL_WORKLOAD)
    child = write(tmp_path / "child.yaml", f"extends: base.yaml\n{text}\n")
    err = error_of(load_workload, child)
    assert err.source.endswith("child.yaml") and err.key_path == key_path, str(err)
    assert message in err.message, err.message


def test_empty_layers_and_first_layer(tmp_path: Path):
    err = error_of(load_workload, write(tmp_path / "w.yaml", "batch: 1\nlayers: {}\n"))
    assert err.key_path == "layers" and "at least 1" in err.message


def test_a_file_of_the_other_kind_is_named_as_such(tmp_path: Path):
    err = error_of(load_hw, ROOT / "workloads" / "gemm.yaml")
    assert err.message.startswith("this is a workload, but a hw config is expected here")
    err = error_of(resolved_config, ROOT / "hw_configs" / "tpu-v1.yaml", "workload")
    assert err.message.startswith("this is a hw config, but a workload is expected here")


def test_odd_keys_give_one_line_errors(tmp_path: Path):
    wl = write(tmp_path / "w.yaml", MINIMAL_WORKLOAD + '"bad\\nkey": 1\n"[key]": 2\n')
    err = error_of(load_workload, wl)
    assert "\n" not in str(err) and err.key_path == "bad\\nkey", str(err)
    hw_file = write(tmp_path / "hw.yaml", MINIMAL_HW)
    assert error_of(load_hw, hw_file, {"[key]": 1}).key_path == "hw.[key]"
    err = error_of(load_hw, hw_file, {"sram.capacity_bytes": 10**400})
    assert err.message == "must be at most 9007199254740992 (got an integer of 1329 bits)"
    err = error_of(load_hw, hw_file, {"clock_mhz": 1e-320})
    assert err.message == "must be greater than 0 (at least 1e-09) (got 1e-320)"
