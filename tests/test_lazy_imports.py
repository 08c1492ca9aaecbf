"""Heavy libraries load only where used: after ``import closim.cli`` (what the ``closim`` script
loads before parsing its arguments) and after ``import closim`` none of pandas, SciPy, matplotlib,
Dask/distributed or scikit-learn is in ``sys.modules``. A property test, not a timing test
(``benchmarks/import_time.py`` times it); each check runs in a fresh interpreter. The controls call
what does need each library and check that it then *is* loaded, so the checks can fail."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

HEAVY = ("pandas", "scipy", "matplotlib", "distributed", "dask", "sklearn")


def loaded_after(code: str) -> list[str]:
    """Which of :data:`HEAVY` are in ``sys.modules`` after ``code`` ran in a fresh interpreter."""
    probe = textwrap.dedent(code) + (
        "\nimport json as _json, sys as _sys\n"
        f"print(_json.dumps([m for m in {HEAVY!r} if m in _sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("statement", ["import closim.cli", "import closim"])
def test_entry_points_load_no_heavy_module(statement: str) -> None:
    assert loaded_after(statement) == []


def test_run_path_modules_load_no_heavy_module() -> None:
    # what `closim run` imports (api, config loader, render, results) and the other modules made
    # lazy here: importing them is free; only calling what needs a library loads it
    code = """
        import closim.api, closim.config, closim.ops, closim.replay, closim.topology, closim.train
        import closim.report.plots, closim.report.render, closim.report.results
        import closim.report.timeline, closim.report.topology_summary, closim.report.train_table
    """
    assert loaded_after(code) == []


def test_run_as_json_loads_no_heavy_module() -> None:
    code = """
        import closim
        from closim.report.render import to_json
        from closim.report.results import result_dict
        result = closim.simulate(
            closim.load_hw("tpu-v1"), closim.load_workload("lenet-300-100"), engine="analytic"
        )
        to_json(result_dict(result))
    """
    assert loaded_after(code) == []


def test_control_result_frame_loads_pandas() -> None:
    code = """
        import closim
        from closim.report.results import result_frame
        result = closim.simulate(
            closim.load_hw("tpu-v1"), closim.load_workload("lenet-300-100"), engine="analytic"
        )
        assert len(result_frame(result)) > 1
    """
    assert "pandas" in loaded_after(code)


def test_control_unstructured_stage_loads_scipy() -> None:
    code = """
        import numpy as np
        from closim.topology import build_layer
        layer = build_layer({"kind": "unstructured", "density": 0.25}, 16, 8)
        assert layer.forward(np.ones((2, 16))).shape == (2, 8)
    """
    assert "scipy" in loaded_after(code)


def test_control_training_splits_load_sklearn() -> None:
    code = """
        import numpy as np
        from closim.train import splits
        assert len(splits(np.arange(20) % 2, 2, seed=0)) == 2
    """
    assert "sklearn" in loaded_after(code)


def test_lazy_public_names_match_all() -> None:
    import closim
    from closim.engines.registry import register

    assert set(closim.__all__) - {"__version__"} == set(closim._LAZY)
    for name in closim.__all__:
        assert getattr(closim, name) is not None
    assert closim.register_engine is register
    with pytest.raises(AttributeError):
        _ = closim.no_such_name
