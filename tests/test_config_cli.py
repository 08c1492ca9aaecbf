"""Config errors as a user sees them: exit status 2 and one line ``closim: error: FILE: key.path:
message`` on stderr, never a traceback. Every error class of a file runs ``closim show`` in a
subprocess; ``--set`` errors and successful runs call the CLI's ``main`` in process (faster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE_HW = ROOT / "hw_configs" / "tpu-v1.yaml"
BASE_WORKLOAD = ROOT / "workloads" / "alexnet-fc.yaml"


def closim(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CLOSIM_DEBUG", None)
    return subprocess.run(
        [sys.executable, "-m", "closim", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )


def closim_in_process(
    capsys: pytest.CaptureFixture[str], *args: str
) -> subprocess.CompletedProcess[str]:
    """``closim ARGS`` through ``closim.cli.main`` in this process, as a CompletedProcess."""
    from closim.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["closim", *args], code, out, err)


def assert_config_error(result: subprocess.CompletedProcess[str], prefix: str) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"closim: error: {prefix}"), lines[0]
    assert lines[0].endswith(")"), "messages end with (got X)"
    return lines[0]


# (file text, kind of base it extends, expected "key.path: message" start)
FILE_ERRORS = {
    "yaml_syntax": ("pe_array:\n  rows: 4: 5\n", "hw", "line 3, column 10: YAML syntax error"),
    "unknown_key": ("pe_array: {rwos: 64}\n", "hw",
                    "pe_array.rwos: unknown key; did you mean 'rows'?"),
    "wrong_type": ("pe_array: {rows: abc}\n", "hw",
                   "pe_array.rows: expected an integer (got 'abc')"),
    "missing_key": ("layers: {fc9: {in_features: 1000}}\n", "workload",
                    "layers.fc9.out_features: required key is missing: output width"),
    "non_positive_size": ("sram: {capacity_bytes: -5}\n", "hw",
                          "sram.capacity_bytes: must be greater than 0 (got -5)"),
    "zero_bandwidth": ("dram: {bandwidth_gb_per_s: 0}\n", "hw",
                       "dram.bandwidth_gb_per_s: must be greater than 0"),
    "unknown_dataflow": ("pe_array: {dataflow: rs}\n", "hw",
                         "pe_array.dataflow: expected one of 'ws', 'os' or 'is' (got 'rs')"),
    "duplicate_key": ("clock_mhz: 1\nclock_mhz: 2\n", "hw", "clock_mhz: line 3: duplicate key"),
    "batch_zero": ("batch: 0\n", "workload", "batch: must be greater than 0 (got 0)"),
    "topology_misfit": ("layers: {fc7: {topology: {kind: clos, r: 48, m: 64}}}\n", "workload",
                        "layers.fc7.topology.r: "),
    "topology_unknown_kind": ("layers: {fc7: {topology: {kind: closs}}}\n", "workload",
                              "layers.fc7.topology.kind: "),
    "layers_do_not_chain": ("layers: {fc7: {out_features: 4000}}\n", "workload",
                            "layers.fc7.out_features: must equal the in_features of the next"),
    "missing_extends": ("extends: nowhere.yaml\n", None, "extends: no such file"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(FILE_ERRORS))
def test_file_errors_through_the_cli(tmp_path: Path, case: str):
    text, base, expected = FILE_ERRORS[case]
    if base is not None:
        source = BASE_HW if base == "hw" else BASE_WORKLOAD
        (tmp_path / source.name).write_text(source.read_text())
        text = f"extends: {source.name}\n{text}"
    bad = tmp_path / f"{case}.yaml"
    bad.write_text(text)
    assert_config_error(closim("show", str(bad)), f"{bad}: {expected}")


def test_extends_cycle_through_the_cli(tmp_path: Path):
    (tmp_path / "a.yaml").write_text("extends: b.yaml\nbatch: 1\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    line = assert_config_error(closim("show", str(tmp_path / "a.yaml")), f"{tmp_path / 'b.yaml'}")
    assert ": extends: extends makes a cycle:" in line


def test_missing_file_through_the_cli(tmp_path: Path):
    missing = tmp_path / "absent.yaml"
    assert_config_error(closim("show", str(missing)), f"{missing}: no such file")


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["hw.pe_array.rows=0"], "--set: hw.pe_array.rows: must be greater than 0 (got 0)"),
        (["hw.pe_array.dataflow=xs"], "--set: hw.pe_array.dataflow: expected one of"),
        (["hw.pe_array.rows"], "--set: expected PATH=VALUE"),
        (["pe_array.rows=3"], "--set: a path starts with hw. or workload."),
        (["hw.dram={bandwidth_gb_per_s: [}"], "--set: hw.dram: the value is not valid YAML"),
        (["workload.batch=2"], "--set: workload.batch: applies to a workload config"),
    ],
)
def test_set_errors_through_the_cli(
    capsys: pytest.CaptureFixture[str], sets: list[str], expected: str
):
    args = [arg for item in sets for arg in ("--set", item)]
    assert_config_error(closim_in_process(capsys, "show", "tpu-v1", *args), expected)


def test_workload_set_error_through_the_cli(capsys: pytest.CaptureFixture[str]):
    result = closim_in_process(
        capsys,
        "show", "alexnet-fc", "--set", "workload.layers.fc7.topology={kind: clos, r: 48, m: 64}",
    )  # fmt: skip
    assert_config_error(result, "--set: workload.layers.fc7.topology.r: ")


def test_show_and_list_succeed(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    result = closim_in_process(capsys, "show", "alexnet-fc-clos", "--set", "workload.batch=7")
    assert result.returncode == 0, result.stderr
    shown = yaml.safe_load(result.stdout)
    assert shown["config"]["batch"] == 7
    assert shown["config"]["layers"]["fc8"]["topology"] == "dense"
    result = closim_in_process(capsys, "show", str(BASE_HW), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert "sram.read_pj_per_byte" in json.loads(result.stdout)["derived"]
    result = closim("list", "--format", "json", cwd=tmp_path)  # bundled dirs found from anywhere
    assert result.returncode == 0, result.stderr
    names = {(e["kind"], e["name"]) for e in json.loads(result.stdout)}
    assert ("hw", "tpu-v1") in names and ("workload", "gemm") in names


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        ([], "closim: error: the following arguments are required: command"),
        (["show", "--hw"], "closim: error: show: "),
        (["run", "--hw", "tpu-v4"], "closim: error: run: the following arguments are required"),
    ],
)
def test_usage_errors_name_the_program_once(
    argv: list[str], line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from closim.cli import main

    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(line), err
    assert err[0].count("closim") == 1


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from closim.cli import main
    from closim.model.version import VERSION

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"closim {VERSION}"
