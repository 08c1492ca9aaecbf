"""Finding configs: bundled names (``--hw tpu-v1``), file paths, and ``closim list``.

Bundled configs live in ``hw_configs/`` and ``workloads/`` of the working directory and of the
repository the installed package comes from (the folder above ``closim/``); the working
directory's shadow the repository's of the same name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from closim.config.compose import compose
from closim.config.errors import did_you_mean, single_line_errors
from closim.config.yaml_io import display_path, is_dir, is_file
from closim.model.errors import ConfigError
from closim.model.version import PACKAGE_DIR

KIND_DIRS: dict[str, str] = {"hw": "hw_configs", "workload": "workloads"}
KIND_WORDS: dict[str, str] = {"hw": "hw config", "workload": "workload", "auto": "config"}
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class BundledConfig:
    """One bundled config as ``closim list`` shows it."""

    kind: str
    name: str
    path: Path
    description: str


def search_roots() -> list[Path]:
    """Directories holding ``hw_configs/`` and ``workloads/``: the working directory, then the
    repository next to the installed package."""
    roots: list[Path] = []
    for root in (Path.cwd(), PACKAGE_DIR.parent):
        if all(root.resolve() != r.resolve() for r in roots):
            roots.append(root)
    return roots


def _kinds(kind: str) -> list[str]:
    if kind == "auto":
        return list(KIND_DIRS)
    if kind not in KIND_DIRS:
        raise ConfigError(f"kind is one of auto, hw, workload (got {kind!r})", source="--kind")
    return [kind]


def bundled_files(kind: str = "auto") -> list[tuple[str, str, Path]]:
    """(kind, name, path) of every bundled config, first root winning for a repeated name."""
    found: dict[tuple[str, str], Path] = {}
    for root in search_roots():
        for k in _kinds(kind):
            folder = root / KIND_DIRS[k]
            if not folder.is_dir():
                continue
            files = sorted(p for p in folder.iterdir() if p.suffix in SUFFIXES and p.is_file())
            for path in files:
                found.setdefault((k, path.stem), _nice(path))
    return [(k, name, path) for (k, name), path in sorted(found.items())]


def _nice(path: Path) -> Path:
    """``path`` relative to the working directory when inside it."""
    return Path(display_path(path))


def list_bundled() -> list[BundledConfig]:
    """Every bundled hw config and workload with its one-line description, sorted by kind, name.

    A file that cannot be read is listed with the error as its description.
    """
    entries = []
    for kind, name, path in bundled_files():
        try:
            data = compose(path).data
            description = data.get("description")
            if not isinstance(description, str):
                description = ""
        except ConfigError as err:
            description = f"(cannot load: {err})"
        entries.append(BundledConfig(kind, name, path, description))
    return entries


@single_line_errors
def resolve_path(path_or_name: str | Path, kind: str = "auto") -> Path:
    """The file a user means: an existing path as given, else a bundled config of that name
    (``tpu-v1``, ``tpu-v1.yaml``) of ``kind`` ("hw", "workload" or "auto" for either)."""
    text = str(path_or_name)
    path = Path(text)
    if is_file(path):
        return path
    kinds = _kinds(kind)
    if is_dir(path):
        raise ConfigError(f"is a directory, not a YAML file (got {text!r})", source=text)
    name = path.name[: -len(path.suffix)] if path.suffix in SUFFIXES else path.name
    if len(path.parts) == 1 and name:
        hits = [(k, p) for k, n, p in bundled_files(kind) if n == name and k in kinds]
        if len(hits) == 1:
            return hits[0][1]
        if len(hits) > 1:
            raise ConfigError(
                f"both a bundled hw config and a workload are called {name!r}; pass --kind or "
                f"a path (got {text!r})",
                source=text,
            )
    names = sorted({n for _, n, _ in bundled_files(kind)})
    near = did_you_mean(name, names)
    hint = f"did you mean {near!r}? " if near else ""
    word = KIND_WORDS.get(kind, "config")
    listing = ", ".join(names) if names else "none found"
    raise ConfigError(
        f"no such file, nor a bundled {word} of that name; {hint}bundled: {listing} (got {text!r})",
        source=text,
    )
