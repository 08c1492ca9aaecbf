"""Power: idle power over time, clock tree and control per busy array-cycle, PE-local storage,
the on-chip network, DRAM energy by technology, average power in the run output, published
busy and idle figures (docs/references.md §19, §20), the GPU terms of h100-like (§20.7), the
power_check script's verdicts and control, and config errors on the new keys."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from closim.accounting.energy import energy_breakdown_pj
from closim.accounting.stats import Stats
from closim.api import simulate
from closim.config import defaults, load_hw, load_workload
from closim.model.errors import ConfigError
from closim.model.hw import Power
from closim.report.render import render_run
from tests.conftest import MINIMAL_HW_YAML, make_hw, make_workload, write_config

ROOT = Path(__file__).resolve().parents[1]

#: tests/conftest.py's minimal config with its DRAM given by technology instead of pJ/bit.
MINIMAL_HW = MINIMAL_HW_YAML.replace("pj_per_bit: 20", "technology: ddr4")


def _hw_file(tmp_path: Path, text: str = MINIMAL_HW) -> Path:
    return write_config(tmp_path / "hw.yaml", text)


def _gemm(m: int, k: int, n: int):
    return load_workload(
        "gemm", {"batch": m, "layers.gemm.in_features": k, "layers.gemm.out_features": n}
    )


# --- DRAM energy by technology --------------------------------------------------------------------


def test_technology_gives_pj_per_bit_when_null_and_explicit_values_win(tmp_path: Path) -> None:
    hw_file = _hw_file(tmp_path)
    by_tech = load_hw(hw_file)
    # DDR4 = DDR3's 30 pJ/bit x (1.2 V / 1.5 V)^2 = 19.2 (docs/references.md §20.3)
    assert by_tech.dram.pj_per_bit == pytest.approx(30 * (1.2 / 1.5) ** 2)
    assert by_tech.dram.technology == "ddr4" and "dram.pj_per_bit" in by_tech.derived
    assert load_hw(hw_file, {"dram.technology": "hbm2"}).dram.pj_per_bit == 3.9
    given = load_hw(hw_file, {"dram.pj_per_bit": 11.5})
    assert given.dram.pj_per_bit == 11.5 and "dram.pj_per_bit" not in given.derived
    # the DRAM level prices bytes at 8 x (pj_per_bit + controller)
    assert given.level("dram").read_pj_per_byte == pytest.approx(8 * 11.5)


def test_ddr3_is_the_midpoint_of_horowitz_range() -> None:
    # Horowitz ISSCC 2014: a 64-bit DRAM read is 1.3-2.6 nJ (docs/references.md §1.2)
    low, high = 1300 / 64, 2600 / 64
    assert defaults.DRAM_PJ_PER_BIT["ddr3"][0] == pytest.approx((low + high) / 2, abs=0.5)
    assert load_hw("tpu-v1").dram.pj_per_bit == defaults.DRAM_PJ_PER_BIT["ddr3"][0]
    assert set(defaults.DRAM_PJ_PER_BIT) == {
        "ddr3", "ddr4", "lpddr4", "lpddr5", "gddr5", "hbm2", "hbm2e", "hbm3",
    }  # fmt: skip


# --- idle power, clock tree, PE-local storage, network --------------------------------------------


def test_idle_power_times_seconds_is_the_static_energy() -> None:
    hw = make_hw(clock_mhz=500.0)  # static_power_mw=100
    result = simulate(hw, make_workload([64, 64], ["dense"], mode="inference"), engine="analytic")
    seconds = result.totals.cycles / 500e6
    assert result.energy_pj["static"] == pytest.approx(100e-3 * seconds * 1e12)
    totals = result.to_dict()["totals"]
    assert totals["idle_power_w"] == pytest.approx(0.1)
    assert totals["average_power_w"] == pytest.approx(totals["energy_pj"] * 1e-12 / seconds)
    # with nothing but idle power priced, the average power is the idle power
    idle_only = dataclasses.replace(
        hw,
        pe_array=dataclasses.replace(hw.pe_array, mac_pj=0.0),
        sram=dataclasses.replace(hw.sram, read_pj_per_byte=0.0, write_pj_per_byte=0.0),
        dram=dataclasses.replace(hw.dram, pj_per_bit=0.0),
    )
    again = simulate(idle_only, make_workload([64, 64], ["dense"], mode="inference"))
    assert again.to_dict()["totals"]["average_power_w"] == pytest.approx(0.1)


def test_clock_energy_is_busy_array_cycles_times_pes_by_hand() -> None:
    hw = dataclasses.replace(make_hw(rows=8, cols=4, count=3), power=Power(0.25, 0.0))
    stats = Stats(cycles=10_000, compute_cycles=600)
    assert energy_breakdown_pj(stats, hw)["clock"] == pytest.approx(600 * 8 * 4 * 0.25)
    twice = Stats(cycles=10_000, compute_cycles=1200)
    assert energy_breakdown_pj(twice, hw)["clock"] == pytest.approx(1200 * 32 * 0.25)
    # idle cycles (cycles without compute) add idle power, never clock energy
    longer = Stats(cycles=20_000, compute_cycles=600)
    assert energy_breakdown_pj(longer, hw)["clock"] == pytest.approx(600 * 32 * 0.25)


def test_clock_energy_follows_the_simulated_compute_cycles() -> None:
    hw = dataclasses.replace(make_hw(rows=8, cols=8, count=2), power=Power(0.5, 0.0))
    result = simulate(hw, make_workload([64, 128, 32], ["dense", "dense"], mode="inference"))
    compute = result.totals.compute_cycles
    assert compute > 0
    assert result.energy_pj["clock"] == pytest.approx(compute * 64 * 0.5)
    # per layer too, and the step's clock energy is the sum of its layers'
    for layer in result.layers:
        assert layer.energy_pj["clock"] == pytest.approx(layer.stats.compute_cycles * 64 * 0.5)
    assert sum(x.energy_pj["clock"] for x in result.layers) == pytest.approx(
        result.energy_pj["clock"]
    )
    # stalls add cycles but no clock energy: a slower DRAM stretches the step, not the clock term
    slow = dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, bandwidth_gb_per_s=0.5))
    stalled = simulate(slow, make_workload([64, 128, 32], ["dense", "dense"], mode="inference"))
    assert stalled.totals.cycles > result.totals.cycles
    assert stalled.energy_pj["clock"] == pytest.approx(stalled.totals.compute_cycles * 64 * 0.5)
    assert stalled.energy_pj["static"] > result.energy_pj["static"]


def test_pe_local_and_noc_energy_by_hand() -> None:
    base = make_hw()
    hw = dataclasses.replace(
        base,
        pe_array=dataclasses.replace(base.pe_array, local_pj_per_mac=2.0),
        power=Power(0.0, 1.5),
    )
    stats = Stats(cycles=100, array_macs=700)
    stats.add_transfer("sram", "read", "weights", 300)
    stats.add_transfer("sram", "write", "activations", 100)
    stats.add_transfer("dram", "read", "weights", 50)  # off the on-chip network
    energy = energy_breakdown_pj(stats, hw)
    assert energy["pe_local"] == pytest.approx(700 * 2.0)
    assert energy["noc"] == pytest.approx((300 + 100) * 1.5)
    assert energy["mac"] == pytest.approx(700 * 1.0)  # mac_pj is unchanged


def test_run_table_prints_the_average_and_idle_power() -> None:
    hw = make_hw()
    data = simulate(hw, make_workload([64, 64], ["dense"], mode="inference")).to_dict()
    text = render_run(data)
    watts = data["totals"]["average_power_w"]
    assert f"power: {watts:,.3g} W average over the step, 0.1 W idle (static)" in text


# --- published figures ----------------------------------------------------------------------------


def test_tpu_v1_busy_and_idle_within_30_percent_of_jouppi_table_2() -> None:
    # Jouppi et al. ISCA 2017 Table 2: 28 W idle, 40 W busy per TPU (docs/references.md §19.1);
    # a compute-bound GEMM (92% of the array busy, like CNN0) is the busy load
    hw = load_hw("tpu-v1")
    result = simulate(hw, _gemm(16384, 4096, 4096), engine="analytic")
    busy = result.to_dict()["totals"]["average_power_w"]
    assert abs(busy / 40.0 - 1) <= 0.30
    assert hw.static_power_mw * 1e-3 == 28.0
    # control: the leakage-only idle power this replaced (0.02 mW/PE + 0.02 mW/KiB) fails
    old_idle_mw = 0.02 * 65536 + 0.02 * 28 * 1024
    old = dataclasses.replace(hw, static_power_mw=old_idle_mw)
    old_busy = sum(energy_breakdown_pj(result.totals, old).values()) * 1e-12 / result.seconds
    assert abs(old_busy / 40.0 - 1) > 0.30


def test_eyeriss_chip_power_within_30_percent_of_278_mw() -> None:
    # Chen et al. JSSC 2017: 278 mW on AlexNet CONV1-5 at batch 4 (2.66 G MACs), chip only
    convs = ((12100, 363, 96), (2916, 1200, 256), (676, 2304, 384), (676, 1728, 384),
             (676, 1728, 256))  # fmt: skip
    hw = load_hw("eyeriss-v1")
    energy = seconds = macs = 0.0
    for m, k, n in convs:
        r = simulate(hw, _gemm(m, k, n), engine="analytic")
        energy += sum(r.energy_pj.values()) - r.energy_pj["dram"]
        seconds += r.seconds
        macs += r.totals.macs
    assert macs == pytest.approx(2.66e9, rel=0.01)  # the paper's Table V
    assert abs(energy * 1e-12 / seconds / 0.278 - 1) <= 0.30


# --- h100-like: the GPU terms (docs/references.md §19.4, §20.7) ---------------------------------


def _log_interp(x: float, x0: float, y0: float, x1: float, y1: float) -> float:
    """Log-log interpolation between (x0, y0) and (x1, y1), by hand (not closim's)."""
    return y0 * (x / x0) ** (math.log(y1 / y0) / math.log(x1 / x0))


def test_h100_gpu_energies_are_their_cited_derivations() -> None:
    hw = load_hw("h100-like")
    # Stillmaker-Baas factors: 4 nm between 5 nm (0.080) and 3 nm (0.062), 12 nm between 10 nm
    # (0.12) and 14 nm (0.14) (docs/references.md §2)
    k4, k12 = _log_interp(4, 5, 0.080, 3, 0.062), _log_interp(12, 10, 0.12, 14, 0.14)
    mac = 1.5 * k4 / k12  # Dally: 1.5 pJ per HFMA on Volta (12 nm)
    assert hw.pe_array.mac_pj == pytest.approx(mac, abs=5e-4)
    # instruction issue and operand fetch: 20% of the HMMA's math energy, per busy PE-cycle
    assert hw.power.clock_pj_per_pe_cycle == pytest.approx(0.2 * mac, abs=5e-4)
    # SM-L2 crossbar: 8 bits x half the edge of an 814 mm2 die x (18 + 110) / 2 fJ/bit/mm, paid
    # by every byte that moves between an SM and the L2: L2 bytes, and DRAM bytes (which pass
    # through the L2), so it is priced on those levels and not as a NoC on the SRAM's bytes
    xbar = 8 * math.sqrt(814) / 2 * 64e-3
    assert hw.power.noc_pj_per_byte == 0
    assert hw.dram.controller_pj_per_bit == pytest.approx(xbar / 8, abs=5e-4)
    # the L2 (50 MB) by the sqrt law (10 pJ per 64 b at 8 KiB, 45 nm; 2048-bit access), plus
    # the crossbar
    (l2,) = hw.extra_levels
    l2_read = 10 * math.sqrt(52428800 / 8192) * math.sqrt(64 / 2048) / 8 * k4
    assert l2.read_pj_per_byte == pytest.approx(l2_read + xbar, abs=5e-3)
    assert l2.write_pj_per_byte == pytest.approx(0.85 * l2_read + xbar, abs=5e-3)
    # shared memory (the SRAM, 228 KB per SM): a wgmma 64x256x16 reads (64*16 + 16*256) bf16
    # per 64*256*16 MACs from it by the sqrt law, and the same bytes were written there once
    # (0.85 x a read)
    read_pj_per_byte = 10 * math.sqrt(233472 / 8192) * math.sqrt(64 / 2048) / 8 * k4
    assert hw.sram.read_pj_per_byte == pytest.approx(read_pj_per_byte, abs=5e-4)
    assert hw.sram.write_pj_per_byte == pytest.approx(0.85 * read_pj_per_byte, abs=5e-4)
    assert hw.sram.capacity_bytes == 132 * 233472
    bytes_per_mac = (64 * 16 + 16 * 256) * 2 / (64 * 256 * 16)
    local = bytes_per_mac * read_pj_per_byte * 1.85
    assert hw.pe_array.local_pj_per_mac == pytest.approx(local, abs=5e-5)
    assert hw.static_power_mw == 70_000  # 70 W measured idle per H100 80GB HBM3 (§19.4)


def test_h100_energy_terms_are_counts_times_prices_by_hand() -> None:
    hw = load_hw("h100-like")
    stats = Stats(cycles=1_000_000, compute_cycles=900_000, macs=10**9, array_macs=10**9)
    stats.add_transfer("sram", "read", "weights", 3_000_000)
    stats.add_transfer("sram", "write", "outputs", 1_000_000)
    stats.add_transfer("dram", "read", "weights", 500_000)
    stats.add_transfer("l2", "read", "activations", 200_000)
    stats.add_transfer("l2", "write", "activations", 100_000)
    energy = energy_breakdown_pj(stats, hw)
    assert energy["mac"] == pytest.approx(10**9 * 0.823)
    assert energy["pe_local"] == pytest.approx(10**9 * 0.0061)
    assert energy["clock"] == pytest.approx(900_000 * 32 * 64 * 0.165)  # per PE of one SM's array
    assert energy["sram"] == pytest.approx(3_000_000 * 0.0844 + 1_000_000 * 0.0717)
    assert energy["l2"] == pytest.approx(200_000 * 8.57 + 100_000 * 8.38)
    assert energy["dram"] == pytest.approx(500_000 * 8 * (3.5 + 0.9125))  # HBM3 + crossbar
    assert energy["noc"] == 0
    seconds = 1_000_000 / (hw.clock_mhz * 1e6)  # the config's clock (§21.2 sets it)
    assert energy["static"] == pytest.approx(70.0 * seconds * 1e12)  # idle W x s, in pJ
    # the same prices on a simulated GEMM: every term is its count times its price
    result = simulate(hw, _gemm(2048, 1024, 1024), engine="analytic")
    t = result.totals
    assert result.energy_pj["pe_local"] == pytest.approx(t.array_macs * 0.0061)
    moved_l2 = t.read_bytes.get("l2", 0) * 8.57 + t.write_bytes.get("l2", 0) * 8.38
    assert result.energy_pj.get("l2", 0.0) == pytest.approx(moved_l2)
    dram_bits = (t.read_bytes["dram"] + t.write_bytes["dram"]) * 8
    assert result.energy_pj["dram"] == pytest.approx(dram_bits * (3.5 + 0.9125))
    assert result.energy_pj["clock"] == pytest.approx(t.compute_cycles * 2048 * 0.165)
    watts = result.to_dict()["totals"]["average_power_w"]
    assert watts == pytest.approx(sum(result.energy_pj.values()) * 1e-12 / result.seconds)


def test_h100_busy_and_idle_within_30_percent_and_the_old_model_fails() -> None:
    # busy: the 700 W power limit a large cuBLAS bf16 GEMM runs at; idle: 70 W (§19.4)
    hw = load_hw("h100-like")
    result = simulate(hw, _gemm(16384, 8192, 8192), engine="analytic")
    busy = result.to_dict()["totals"]["average_power_w"]
    assert abs(busy / 700.0 - 1) <= 0.30
    assert abs(hw.static_power_mw * 1e-3 / 70.0 - 1) <= 0.30
    # control: the model before §20.7 (Horowitz MAC 0.143 pJ, leakage-only idle, no issue,
    # shared-memory or crossbar energy: the L2 and DRAM at their device energies) fails both
    old = dataclasses.replace(
        hw,
        pe_array=dataclasses.replace(hw.pe_array, mac_pj=0.143, local_pj_per_mac=0.0),
        power=Power(clock_pj_per_pe_cycle=0.026, noc_pj_per_byte=0.0),
        static_power_mw=2200.0,
        dram=dataclasses.replace(hw.dram, controller_pj_per_bit=0.0),
        extra_levels=tuple(
            dataclasses.replace(level, read_pj_per_byte=1.27, write_pj_per_byte=1.08)
            for level in hw.extra_levels
        ),
    )
    old_busy = sum(energy_breakdown_pj(result.totals, old).values()) * 1e-12 / result.seconds
    assert abs(old_busy / 700.0 - 1) > 0.30
    assert abs(2.2 / 70.0 - 1) > 0.30


def _power_check(monkeypatch: pytest.MonkeyPatch):
    """benchmarks/power_check.py as a module (it is a script, not a package); registered in
    sys.modules for the test only, as its dataclass needs its module there."""
    spec = importlib.util.spec_from_file_location("power_check", ROOT / "benchmarks/power_check.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "power_check", module)
    spec.loader.exec_module(module)
    return module


def test_power_check_passes_targets_fails_controls_and_keeps_the_spec_out(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    check = _power_check(monkeypatch)
    monkeypatch.setattr(sys, "argv", ["power_check.py", "--engine", "analytic"])
    assert check.main() == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()
            if line.split() and line.split()[0] in check.PUBLISHED}  # fmt: skip
    for name, fig in check.PUBLISHED.items():
        if fig.target:
            assert " PASS " in rows[name] and "FAIL (as it must)" in rows[name], rows[name]
    # the Coral figure is a specification: printed as such, never PASS or FAIL
    assert not check.PUBLISHED["edge-npu"].target
    assert " spec " in rows["edge-npu"] and "PASS" not in rows["edge-npu"]
    assert "FAIL" not in rows["edge-npu"]
    # the check can come out wrong: with the control equal to the model it must exit 1
    monkeypatch.setattr(check, "old_model", lambda name, hw: hw)
    assert check.main() == 1


# --- config errors --------------------------------------------------------------------------------


def _closim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "closim", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=60,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (MINIMAL_HW.replace("technology: ddr4", "technology: ddr9"),
         "dram.technology: expected one of"),
        (MINIMAL_HW.replace("technology: ddr4", "technology: DDR4"), "did you mean 'ddr4'?"),
        (MINIMAL_HW.replace(", technology: ddr4", ""), "dram.pj_per_bit: required when technology"),
        (MINIMAL_HW + "power: {clock_pj_per_pe_cycle: -1}\n", "power.clock_pj_per_pe_cycle:"),
        (MINIMAL_HW + "power: {noc_pj_per_bytes: 1}\n", "did you mean 'noc_pj_per_byte'?"),
        (MINIMAL_HW.replace("mac_pj: 0.3", "mac_pj: 0.3, local_pj_per_mac: x"),
         "pe_array.local_pj_per_mac:"),
    ],
)  # fmt: skip
def test_bad_power_keys_give_one_line_errors(tmp_path: Path, text: str, fragment: str) -> None:
    path = _hw_file(tmp_path, text)
    with pytest.raises(ConfigError):
        load_hw(path)
    proc = _closim("show", str(path))
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("closim: error: ") and lines[0].endswith(")"), lines[0]
    assert fragment in lines[0], lines[0]


def test_bad_set_override_of_technology_is_one_line(tmp_path: Path) -> None:
    proc = _closim("show", str(_hw_file(tmp_path)), "--set", "hw.dram.technology=hbm9")
    assert proc.returncode == 2
    assert proc.stderr.startswith("closim: error: --set: hw.dram.technology: "), proc.stderr
    json.dumps(proc.stderr)  # printable
