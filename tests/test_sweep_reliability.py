"""Sweeps under real failures, with real processes: a sweep killed with SIGKILL resumes without
re-running or losing a point; a Dask worker killed mid-sweep loses nothing; a point that raises is
stored as failed while the sweep goes on (exit status 1); two sweeps writing one store at once
leave it intact with each point once."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from closim.sweep import load_results, run_sweep
from tests.test_sweep_spec import ROOT, write_sweep

CLOS8 = {"kind": "clos", "r": 8, "m": 8}
CLOS8_16 = {"kind": "clos", "r": 8, "m": 16}
CLOS4 = {"kind": "clos", "r": 4, "m": 8}
SUMMARY = re.compile(r"(\d+) points: (\d+) ran, (\d+) already stored, (\d+) failed")


def cli_command(path: Path, db: Path) -> list[str]:
    return [sys.executable, "-m", "closim", "sweep", str(path), "--workers", "1", "--quiet",
            "--db", str(db)]  # fmt: skip


def cli_env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("CLOSIM_DEBUG", None)
    return env


def run_cli(path: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(path, db), capture_output=True, text=True, cwd=ROOT, env=cli_env(), timeout=120
    )


def summary(stderr: str) -> tuple[int, int, int, int]:
    """(total, ran, already stored, failed) from the CLI's last words."""
    match = SUMMARY.search(stderr)
    assert match, stderr
    total, ran, stored, failed = map(int, match.groups())
    return total, ran, stored, failed


def count_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM points").fetchone()[0]
    except sqlite3.OperationalError:  # the file or its table is not there yet
        return 0


def non_meta(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[[c for c in frame.columns if not c.startswith("meta_")]]


def totals_by_key(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        return {k: json.loads(t) for k, t in conn.execute("SELECT key, totals FROM points")}


def test_sigkill_then_resume_runs_each_point_exactly_once(tmp_path: Path) -> None:
    # 160 points of ~10 ms each: enough work that the kill lands mid-sweep
    path = write_sweep(
        tmp_path,
        {
            "grid": {
                "workload.batch": list(range(1, 21)),
                "hw.pe_array.rows": [8, 16],
                "workload.layers.l0.topology": ["dense", CLOS8, CLOS8_16, CLOS4],
            },
        },
    )
    total = 160
    db = tmp_path / "killed.sqlite"
    proc = subprocess.Popen(
        cli_command(path, db), cwd=ROOT, env=cli_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while count_rows(db) < 10 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before it could be killed"
    committed = count_rows(db)
    assert 10 <= committed < total

    resumed = run_cli(path, db)
    assert resumed.returncode == 0, resumed.stderr
    assert summary(resumed.stderr) == (total, total - committed, committed, 0)

    reference = run_sweep(path, workers=1, db=tmp_path / "reference.sqlite")
    assert reference.ran == total
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(DISTINCT key), COUNT(*) FROM points").fetchone() == (
            total,
            total,
        )
    got, want = load_results(db), load_results(tmp_path / "reference.sqlite")
    pd.testing.assert_frame_equal(non_meta(got), non_meta(want))
    assert got["meta_pid"].nunique() == 2  # the killed run and the resumed one both committed


def test_killed_dask_worker_loses_no_point(tmp_path: Path) -> None:
    from distributed import Client, LocalCluster

    path = write_sweep(
        tmp_path,
        {
            "grid": {
                "workload.batch": list(range(1, 31)),
                "workload.layers.l0.topology": ["dense", CLOS8],
            }
        },
    )
    total = 60
    killed: list[tuple[int, int]] = []
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        with Client(cluster) as client:  # closed before the sweep's own client connects
            pids = client.run(os.getpid)
        assert len(set(pids.values())) == 2
        victim = next(iter(pids.values()))

        def on_progress(done: int, total_: int, failed: int) -> None:
            if done >= 1 and not killed:
                os.kill(victim, signal.SIGKILL)
                killed.append((victim, done))

        outcome = run_sweep(
            path, scheduler=cluster.scheduler_address, db=tmp_path / "r.db", on_progress=on_progress
        )
    assert killed and killed[0][1] < total, "the worker was killed after the sweep ended"
    assert (outcome.total, outcome.ran, outcome.failed) == (total, total, [])
    frame = load_results(tmp_path / "r.db")
    assert len(frame) == total and (frame["status"] == "ok").all()
    reference = run_sweep(path, workers=1, db=tmp_path / "reference.db")
    assert reference.ran == total
    pd.testing.assert_frame_equal(
        non_meta(frame), non_meta(load_results(tmp_path / "reference.db"))
    )


def test_local_dask_cluster_gives_the_in_process_results(tmp_path: Path) -> None:
    grid = {"hw.pe_array.rows": [8, 16, 32], "workload.layers.l0.topology": ["dense", CLOS8]}
    path = write_sweep(tmp_path, {"engine": "des", "grid": grid})
    dask = run_sweep(path, workers=2, db=tmp_path / "dask.db")
    local = run_sweep(path, workers=1, db=tmp_path / "local.db")
    assert dask.ran == local.ran == 6
    frame = load_results(tmp_path / "dask.db")
    assert frame["meta_worker"].str.startswith("tcp://").all()  # the points ran on workers
    pd.testing.assert_frame_equal(non_meta(frame), non_meta(load_results(tmp_path / "local.db")))


def test_a_failing_point_is_stored_and_the_sweep_goes_on(tmp_path: Path) -> None:
    """l0 is Clos with r=8: its output width 100 is not a multiple of 8; 64 and 128 are."""
    path = write_sweep(
        tmp_path,
        {
            "set": {"workload.layers.l0.topology": CLOS8},
            "zip": {"workload.layers.l0.out_features": [64, 100, 128],
                    "workload.layers.l1.in_features": [64, 100, 128]},
        },
    )  # fmt: skip
    db = tmp_path / "r.sqlite"
    result = run_cli(path, db)
    assert result.returncode == 1, result.stderr
    assert summary(result.stderr) == (3, 3, 0, 1)
    assert "r=8 must divide in_features=64 and out_features=100" in result.stderr
    frame = load_results(db)
    assert frame["status"].tolist() == ["ok", "failed", "ok"]
    failed = frame.iloc[1]
    assert failed["workload.layers.l0.out_features"] == 100
    assert failed["error"].startswith("workload.layers.l0.topology.r: r=8 must divide")
    assert pd.isna(failed["cycles"]) and frame.iloc[2]["cycles"] > frame.iloc[0]["cycles"]
    outcome = run_sweep(path, workers=1, db=db)  # the failure is stored: not re-run, still listed
    assert (outcome.ran, outcome.skipped) == (0, 3)
    assert len(outcome.failed) == 1
    point, error = outcome.failed[0]
    assert "workload.layers.l0.out_features=100" in point and error == failed["error"]


def test_two_sweeps_writing_one_store_at_once(tmp_path: Path) -> None:
    """Sweeps a and b (100 points each, 50 of them shared) start together and write while the
    other does."""
    topologies = ["dense", CLOS8]
    a = write_sweep(tmp_path, {"name": "a", "grid": {
        "workload.batch": list(range(1, 51)), "workload.layers.l0.topology": topologies}},
        name="a.yaml")  # fmt: skip
    b = write_sweep(tmp_path, {"name": "b", "grid": {
        "workload.batch": list(range(26, 76)), "workload.layers.l0.topology": topologies}},
        name="b.yaml")  # fmt: skip
    db = tmp_path / "shared.sqlite"

    def start(path: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(cli_command(path, db), cwd=ROOT, env=cli_env(), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip

    procs = [start(a), start(b)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    (total_a, ran_a, stored_a, _), (total_b, ran_b, stored_b, _) = (
        summary(err) for _, err in results
    )
    assert (total_a, total_b) == (100, 100)
    assert ran_a + stored_a == 100 and ran_b + stored_b == 100
    assert ran_a + ran_b >= 150  # the 50 shared points ran once or twice, none was lost

    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM points").fetchone() == (
            150,
            150,
        )
        spans = conn.execute(
            "SELECT MIN(meta_finished), MAX(meta_finished) FROM points GROUP BY meta_pid"
        ).fetchall()
    assert len(spans) == 2
    (start_1, end_1), (start_2, end_2) = spans
    assert start_1 < end_2 and start_2 < end_1, "the two sweeps did not write at the same time"

    run_sweep(a, workers=1, db=tmp_path / "ref.sqlite")
    run_sweep(b, workers=1, db=tmp_path / "ref.sqlite")
    assert totals_by_key(db) == totals_by_key(tmp_path / "ref.sqlite")


@pytest.fixture(autouse=True)
def _no_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLOSIM_DEBUG", raising=False)
