"""Turning pydantic's validation errors into one ConfigError a person can act on.

The first problem wins (unknown keys before missing ones, since a misspelt key usually causes
both). Messages say what was expected, suggest the nearest allowed key or value, and end with
``(got X)``, X written the way YAML writes it.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import wraps
from typing import Annotated, Any, ParamSpec, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from closim.model.errors import ConfigError

_MAX_GOT = 72
P = ParamSpec("P")
R = TypeVar("R")


class CrossKeyError(ConfigError):
    """A conflict between keys, phrased from each key's side: ``alternatives`` are
    ``(key_path, message)`` pairs. The loader reports the side written last (``--set``, then the
    file itself, then the files it extends), because that edit is the likely cause."""

    def __init__(self, alternatives: Sequence[tuple[str, str]], *, source: str | None = None):
        self.alternatives = tuple(alternatives)
        key_path, message = self.alternatives[0]
        super().__init__(message, source=source, key_path=key_path)

    def located(self, *, source: str | None = None, prefix: str | None = None) -> CrossKeyError:
        """A copy placed in ``source`` with ``prefix`` prepended to every alternative's path."""
        return CrossKeyError(
            [(".".join(p for p in (prefix, key) if p), msg) for key, msg in self.alternatives],
            source=source or self.source,
        )


def printable(text: str | None) -> str | None:
    """``text`` with characters that are not printable (newlines...) escaped: one line."""
    if text is None or text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def one_line(err: ConfigError) -> ConfigError:
    """``err`` with its source, key path and message made printable (a key may be any text)."""
    parts = (err.source, err.key_path, err.message)
    if all(p is None or p.isprintable() for p in parts):
        return err
    return ConfigError(
        printable(err.message) or "", source=printable(err.source), key_path=printable(err.key_path)
    )


def single_line_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Decorates a public entry point: every ConfigError it raises is printable on one line."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as err:
            clean = one_line(err)
            if clean is err:
                raise
            raise clean from None

    return wrapper


def describe(value: object) -> str:
    """A value as YAML would write it, on one line, shortened: for the ``(got X)`` of messages."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int) and value.bit_length() > 200:  # repr may exceed Python's limit
        text = f"an integer of {value.bit_length()} bits"
    elif isinstance(value, str | int | float):
        text = repr(value)
    elif isinstance(value, Mapping | list | tuple):
        try:
            text = json.dumps(value, default=str, separators=(", ", ": "))
        except (TypeError, ValueError, RecursionError):
            text = type(value).__name__
        if isinstance(value, Mapping) and not value:
            text = "an empty mapping {}"
        elif not isinstance(value, Mapping) and not value:
            text = "an empty list []"
    else:
        text = type(value).__name__
    return text if len(text) <= _MAX_GOT else text[: _MAX_GOT - 3] + "..."


def did_you_mean(word: object, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (difflib), or None when nothing is close."""
    if not isinstance(word, str):
        return None
    choices = list(choices)
    by_lower = {c.lower(): c for c in choices}
    if word.lower() in by_lower:
        return by_lower[word.lower()]
    match = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def translate(exc: ValidationError, model_cls: type[BaseModel]) -> ConfigError:
    """The first error of ``exc`` as a ConfigError whose key path is relative to the data's root."""
    errors = exc.errors(include_url=False)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")  # stable: file order otherwise
    err = errors[0]
    typ, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    loc = [str(p) for p in err["loc"]]
    if loc and loc[-1] == "[key]" and typ not in ("extra_forbidden", "missing"):
        loc.pop()  # pydantic's marker of an invalid mapping key (not a key called "[key]")

    if typ in ("value_error", "assertion_error") and isinstance(ctx.get("error"), ConfigError):
        inner: ConfigError = ctx["error"]
        return inner.located(prefix=".".join(loc) or None)
    key = ".".join(loc) or None

    if typ == "missing":
        field = _field_info(model_cls, loc)
        what = f": {field.description}" if field is not None and field.description else ""
        return ConfigError(f"required key is missing{what} (got nothing)", key_path=key)
    if typ == "extra_forbidden":
        allowed = _allowed_keys(model_cls, loc[:-1])
        near = did_you_mean(loc[-1], allowed)
        text = "unknown key" + (f"; did you mean {near!r}?" if near else "")
        if allowed:
            text += (" allowed: " if near else "; allowed: ") + ", ".join(allowed)
        return ConfigError(f"{text} (got {loc[-1]!r})", key_path=key)
    if typ in ("value_error", "assertion_error"):
        text = str(ctx.get("error") or err["msg"])
        text = text.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if not text.endswith(")"):
            text += f" (got {describe(value)})"
        return ConfigError(text, key_path=key)
    return ConfigError(
        f"{_expected(typ, err['msg'], ctx, value)} (got {describe(value)})", key_path=key
    )


def _expected(typ: str, msg: str, ctx: Mapping[str, Any], value: object) -> str:
    if typ == "literal_error":
        choices = [
            c.strip().strip("'")
            for c in str(ctx.get("expected", "")).replace(" or ", ", ").split(",")
        ]
        near = did_you_mean(value, [c for c in choices if c])
        hint = f"; did you mean {near!r}?" if near and near != value else ""
        return f"expected one of {ctx.get('expected')}{hint}"
    if typ in ("int_type", "int_parsing", "int_from_float"):
        if isinstance(value, bool):
            return "expected an integer, not true/false"
        return "expected an integer"
    if typ in ("float_type", "float_parsing"):
        if isinstance(value, str) and _looks_numeric(value):
            return "expected a number; YAML 1.1 reads 1e3 (no dot) as text, write 1.0e3"
        return "expected a number"
    if typ in ("bool_type", "bool_parsing"):
        return "expected true or false"
    if typ == "string_type":
        return "expected text"
    if typ in ("model_type", "dict_type", "model_attributes_type", "mapping_type"):
        return "expected a mapping of keys"
    if typ == "finite_number":
        return "expected a finite number"
    bounds = {
        "greater_than": ("must be greater than", "gt"),
        "greater_than_equal": ("must be at least", "ge"),
        "less_than": ("must be less than", "lt"),
        "less_than_equal": ("must be at most", "le"),
        "multiple_of": ("must be a multiple of", "multiple_of"),
    }
    if typ in bounds:
        words, name = bounds[typ]
        bound = ctx.get(name)
        if typ == "greater_than_equal" and isinstance(bound, float) and 0 < bound < 1e-3:
            return f"must be greater than 0 (at least {bound:g})"
        return f"{words} {bound}"
    if typ in ("too_short", "string_too_short"):
        n = ctx.get("min_length")
        return f"needs at least {n} entr{'y' if n == 1 else 'ies'}"
    if typ in ("too_long", "string_too_long"):
        return f"allows at most {ctx.get('max_length')} entries"
    text = msg.replace("Input should be", "expected").replace("Input", "value")
    return text[:1].lower() + text[1:]


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unwrap(annotation: Any) -> Any:
    """Strips Annotated and Optional; of a union keeps its first model (else its first member)."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        return _unwrap((models or members or [annotation])[0])
    return annotation


def _annotation_at(model_cls: type[BaseModel], loc: Sequence[str]) -> Any:
    """The type annotation governing ``loc`` inside ``model_cls``, or None when it is unknown."""
    ann: Any = model_cls
    for part in loc:
        ann = _unwrap(ann)
        origin = get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(part)
            if field is None:
                return None
            ann = field.annotation
        elif isinstance(origin, type) and issubclass(origin, Mapping):
            ann = get_args(ann)[1] if get_args(ann) else None
        elif origin in (list, tuple, Sequence):
            ann = get_args(ann)[0] if get_args(ann) else None
        else:
            return None
    return _unwrap(ann)


def _allowed_keys(model_cls: type[BaseModel], loc: Sequence[str]) -> list[str]:
    ann = _annotation_at(model_cls, loc)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return list(ann.model_fields)
    return []


def _field_info(model_cls: type[BaseModel], loc: Sequence[str]) -> Any:
    if not loc:
        return None
    owner = _annotation_at(model_cls, loc[:-1])
    if isinstance(owner, type) and issubclass(owner, BaseModel):
        return owner.model_fields.get(loc[-1])
    return None
