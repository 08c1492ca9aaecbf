"""Fuzzing the loader with damaged text (inserted garbage, truncation) and random overrides:
a failure may only be a located one-line ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from closim.config import parse_set_options
from closim.model.errors import ConfigError
from tests.test_config_fuzz import (
    BUNDLED,
    FUZZ,
    ROOT,
    VALUES,
    copy_bundled,
    key_paths,
    must_fail_cleanly,
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_bundled(tmp_path_factory.mktemp("bundled_text"))


@pytest.mark.parametrize(("kind", "original"), BUNDLED, ids=lambda v: getattr(v, "stem", v))
@FUZZ
@given(data=st.data())
def test_text_mutations(sandbox: Path, kind: str, original: Path, data: st.DataObject):
    text = original.read_text()
    op = data.draw(st.sampled_from(["insert", "truncate", "both"]), label="op")
    if op in ("insert", "both"):
        at = data.draw(st.integers(0, len(text)), label="at")
        garbage = data.draw(
            st.text(max_size=12)
            | st.sampled_from(
                [":", "- ", "{", "]", "\t", "&a", "*b", "!!x", "!!binary", "1" * 5000, "2024-02-30"]
            ),
            label="garbage",
        )
        text = text[:at] + garbage + text[at:]
    if op in ("truncate", "both"):
        text = text[: data.draw(st.integers(0, len(text)), label="cut")]
    target = sandbox / original.parent.relative_to(ROOT) / f"mutant-{original.name}"
    target.write_bytes(text.encode("utf-8", "surrogatepass"))
    must_fail_cleanly(kind, target)


@pytest.mark.parametrize(("kind", "original"), BUNDLED[::3], ids=lambda v: getattr(v, "stem", v))
@FUZZ
@given(data=st.data())
def test_override_mutations(kind: str, original: Path, data: st.DataObject):
    tree = yaml.safe_load(original.read_text())
    known = [".".join(map(str, p)) for p in key_paths(tree)] or ["batch"]
    path = data.draw(st.sampled_from(known) | st.text(max_size=12), label="path")
    root = data.draw(st.sampled_from([kind, f"{kind}.", ""]), label="root")
    value = data.draw(VALUES, label="value")
    overrides = {f"{root}.{path}" if root in ("hw", "workload") else root + path: value}
    must_fail_cleanly(kind, original, overrides, show=False)


@FUZZ
@given(items=st.lists(st.text(max_size=30) | st.from_regex(r"(hw|workload)\.[a-z_.]{0,12}=.{0,12}"),
                      max_size=4))  # fmt: skip
def test_parse_set_options_fails_cleanly(items: list[str]):
    try:
        parsed = parse_set_options(items)
    except ConfigError as err:
        assert err.source == "--set" and "\n" not in str(err)
    else:
        assert set(parsed) == {"hw", "workload"}
