"""Fuzzing the loader with structural mutations of every bundled file (delete a key, give it a
random YAML value, rename it): a failure may only be a located one-line ConfigError.

The strategies and helpers here are shared with test_config_fuzz_text.py."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closim.config import load_hw, load_workload, resolved_config
from closim.model.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = [("hw", p) for p in sorted((ROOT / "hw_configs").glob("*.yaml"))] + [
    ("workload", p) for p in sorted((ROOT / "workloads").glob("*.yaml"))
]
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

INTERESTING = st.sampled_from(
    [0, -1, 1, 3, 2**64, 0.5, -0.0, "", "ws", "os", "dense", "clos", "1e3", "~", "null", True,
     {"kind": "clos"}, {"kind": "clos", "r": 0}, {"kind": "monarch", "blocks": 3}, [], {}, [1, 2]]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**600), max_value=2**600)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | INTERESTING
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def copy_bundled(root: Path) -> Path:
    """Copies of the bundled folders under ``root``, so that a mutant sits next to the files it
    extends without touching the repository."""
    for folder in ("hw_configs", "workloads"):
        shutil.copytree(ROOT / folder, root / folder)
    return root


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_bundled(tmp_path_factory.mktemp("bundled"))


def key_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = []
    if isinstance(data, dict):
        for key, value in data.items():
            paths.append((*prefix, key))
            paths.extend(key_paths(value, (*prefix, key)))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            paths.append((*prefix, i))
            paths.extend(key_paths(value, (*prefix, i)))
    return paths


def parent_of(data: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        data = data[key]
    return data


def must_fail_cleanly(kind: str, path: Path, overrides: Any = None, *, show: bool = True) -> None:
    """Loads ``path`` (as ``closim show`` does: validation, records, summary, or as the library
    does); a failure must be a located one-line ConfigError."""
    try:
        if show:
            resolved_config(path, kind, overrides)
        else:
            (load_hw if kind == "hw" else load_workload)(path, overrides)
    except ConfigError as err:
        text = str(err)
        assert text and "\n" not in text and "\r" not in text, repr(text)
        assert err.source, text


@pytest.mark.parametrize(("kind", "original"), BUNDLED, ids=lambda v: getattr(v, "stem", v))
@FUZZ
@given(data=st.data())
def test_structural_mutations(sandbox: Path, kind: str, original: Path, data: st.DataObject):
    tree = yaml.safe_load(original.read_text())
    paths = key_paths(tree)
    path = data.draw(st.sampled_from(paths), label="path")
    op = data.draw(st.sampled_from(["delete", "replace", "rename", "replace_root"]), label="op")
    parent = parent_of(tree, path)
    if op == "delete":
        del parent[path[-1]]
    elif op == "replace":
        parent[path[-1]] = data.draw(VALUES, label="value")
    elif op == "rename" and isinstance(parent, dict):
        key = path[-1]
        typo = key[1:] if len(key) > 1 else key + "x"
        new = data.draw(st.sampled_from([typo, key.upper()]) | st.text(max_size=10), label="key")
        parent[new] = parent.pop(key)
    elif op == "replace_root":
        tree = data.draw(VALUES, label="root")
    mutant = original.parent.relative_to(ROOT)
    target = sandbox / mutant / f"mutant-{original.name}"
    target.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    must_fail_cleanly(kind, target)
