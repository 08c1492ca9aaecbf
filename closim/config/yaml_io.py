"""Reading YAML: the one module that calls PyYAML on config text. Every failure (missing file,
bad bytes, syntax, duplicate or non-text keys) becomes a ConfigError naming the file and line."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from closim.config.errors import describe, single_line_errors
from closim.model.errors import ConfigError

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_YAML11_WORDS = {"yes", "no", "on", "off", "y", "n", "true", "false", "null", "~"}


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader; a value its constructors cannot build (a date like 2024-13-01, an
    integer of more digits than Python converts) becomes a YAML error with a line and column."""

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            problem = f"cannot read this value: {str(exc).split(';')[0]}"
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None


def display_path(path: str | Path) -> str:
    """A path as error messages show it: relative to the working directory when inside it."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(p)


def is_file(path: Path) -> bool:
    """``path.is_file()``, False where the OS refuses the name (too long, bad bytes)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, False where the OS refuses the name."""
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def resolved(path: Path) -> Path:
    """``path.resolve()``, or the absolute path where the OS refuses to resolve it."""
    try:
        return path.resolve()
    except (OSError, ValueError, RuntimeError):
        return path.absolute()


@single_line_errors
def parse_yaml_text(text: str, source: str) -> Any:
    """The YAML document in ``text`` as Python data (mappings keep file order).

    Rejects duplicate keys and keys that are not text (YAML 1.1 reads ``on:`` or ``1:`` as a bool
    or a number), which PyYAML would otherwise accept silently.
    """
    return copy.deepcopy(_parse_cached(text, source))


@functools.lru_cache(maxsize=512)
def _parse_cached(text: str, source: str) -> Any:
    loader = None
    try:
        loader = _Loader(text)  # checks the characters already
        node = loader.get_single_node()
        if node is None:
            return None
        _check_keys(node, (), source, set())
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, text, source) from None
    except yaml.YAMLError as exc:  # ReaderError (bad characters) and the like
        raise ConfigError(f"not valid YAML: {exc}".replace("\n", " "), source=source) from None
    except RecursionError:
        raise ConfigError(
            "YAML nested too deeply (got more levels than Python allows)", source=source
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


@single_line_errors
def load_yaml_file(path: str | Path, *, source: str | None = None) -> dict[str, Any]:
    """The top-level mapping of the YAML file at ``path``; ``source`` names it in errors."""
    src = source or display_path(path)
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"no such file (got {str(p)!r})", source=src) from None
    except IsADirectoryError:
        raise ConfigError(f"is a directory, not a YAML file (got {str(p)!r})", source=src) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror} (got {str(p)!r})", source=src) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text at byte {exc.start} (got {raw[exc.start : exc.start + 8]!r})",
            source=src,
        ) from None
    data = parse_yaml_text(text, src)
    if data is None:
        raise ConfigError("the file is empty; expected a mapping of keys (got nothing)", source=src)
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of keys at the top (got {describe(data)})", source=src
        )
    return data


def _syntax_error(exc: yaml.MarkedYAMLError, text: str, source: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "syntax error"
    if mark is None:
        return ConfigError(f"YAML syntax error: {problem}", source=source)
    lines = text.splitlines()
    got = lines[mark.line].strip() if 0 <= mark.line < len(lines) else "end of file"
    where = f"line {mark.line + 1}, column {mark.column + 1}"
    kind = (
        "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
    )
    return ConfigError(f"{where}: {kind}: {problem} (got {got[:80]!r})", source=source)


def _check_keys(node: Node, path: tuple[str, ...], source: str, seen: set[int]) -> None:
    """Walks the composed document: mapping keys must be unique text."""
    if id(node) in seen:  # an alias: already checked where it was anchored
        return
    seen.add(id(node))
    if isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            _check_keys(item, (*path, str(i)), source, seen)
    elif isinstance(node, MappingNode):
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                _check_keys(value_node, path, source, seen)
                continue
            line = key_node.start_mark.line + 1
            if not (isinstance(key_node, ScalarNode) and key_node.tag == _STR_TAG):
                raw = key_node.value if isinstance(key_node, ScalarNode) else "a collection"
                hint = (
                    "; YAML 1.1 reads it as a boolean or null, quote it"
                    if isinstance(raw, str) and raw.lower() in _YAML11_WORDS
                    else "; quote it"
                )
                raise ConfigError(
                    f"line {line}: keys must be text{hint} (got {raw!r})",
                    source=source,
                    key_path=".".join(path) or None,
                )
            key = key_node.value
            if key in first:
                raise ConfigError(
                    f"line {line}: duplicate key, first given at line {first[key]} (got {key!r})",
                    source=source,
                    key_path=".".join((*path, key)),
                )
            first[key] = line
            _check_keys(value_node, (*path, key), source, seen)
