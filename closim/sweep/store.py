"""The SQLite results store of sweeps: one row per point, keyed by the hash of its resolved config.

Written only by the driver process of a sweep, one short transaction per finished point, in WAL
mode with a busy timeout, so that a killed sweep loses at most the points still running and two
sweeps writing one file at once corrupt nothing (``INSERT OR IGNORE`` on the key: the first
result stored for a key wins). ``synchronous=NORMAL`` in WAL mode survives a killed process (the
threat here); only a power cut may drop the last commits.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from closim.model.errors import ConfigError
from closim.report.results import flatten

if TYPE_CHECKING:  # pandas loads only when results are read as a frame
    import pandas as pd

SCHEMA_VERSION = "1"
BUSY_TIMEOUT_S = 60.0
META_COLUMNS = (
    "meta_started",
    "meta_finished",
    "meta_wall_s",
    "meta_host",
    "meta_pid",
    "meta_worker",
    "meta_closim_version",
    "meta_sweep_file",
)
_META_TYPES = {"meta_wall_s": "REAL", "meta_pid": "INTEGER"}
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY,
    sweep TEXT NOT NULL,
    point_index INTEGER NOT NULL,
    axes TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT,
    totals TEXT,
    extra TEXT,
    layers TEXT,
    config TEXT,
    {", ".join(f"{c} {_META_TYPES.get(c, 'TEXT')}" for c in META_COLUMNS)}
);
CREATE TABLE IF NOT EXISTS store_info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO store_info (name, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
"""
_COLUMNS = (
    "key", "sweep", "point_index", "axes", "status", "error", "totals", "extra", "layers",
    "config", *META_COLUMNS,
)  # fmt: skip
T = TypeVar("T")


@dataclass
class Record:
    """One finished point as stored. JSON columns hold plain data (dicts)."""

    key: str
    sweep: str
    point_index: int
    axes: dict[str, Any]
    status: str
    error: str | None
    totals: dict[str, Any] | None
    extra: dict[str, Any]
    layers: list[dict[str, Any]] | None
    config: dict[str, Any] | None
    meta: dict[str, Any]


def _retry(action: Callable[[], T]) -> T:
    """Runs ``action``, retrying while SQLite reports the file locked or busy (on top of the
    connection's busy timeout, which does not cover every case, e.g. switching to WAL)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.01
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            text = str(exc).lower()
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class Store:
    """An open results store (creating the file and its tables when needed)."""

    def __init__(self, path: str | Path, *, create: bool = True):
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise ConfigError("no such results store (a .sqlite file)", source=str(path))
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            if create:  # only a writer switches the file to WAL (never someone else's file)
                self._check_schema(allow_empty=True)
                _retry(lambda: self.conn.execute("PRAGMA journal_mode=WAL").fetchone())
                self.conn.execute("PRAGMA synchronous=NORMAL")
                _retry(lambda: self.conn.executescript(f"BEGIN IMMEDIATE;{_SCHEMA}COMMIT;"))
            self._check_schema()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"not a closim results store: {exc}", source=str(path)) from None

    def _check_schema(self, *, allow_empty: bool = False) -> None:
        """Raises unless the file is a closim store of this schema (or, with ``allow_empty``,
        a file without tables, about to become one)."""
        tables = {
            row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if allow_empty and not tables:
            return
        if "points" not in tables or "store_info" not in tables:
            raise ConfigError("not a closim results store (no points table)", source=str(self.path))
        row = self.conn.execute(
            "SELECT value FROM store_info WHERE name='schema_version'"
        ).fetchone()
        if row is None or row[0] != SCHEMA_VERSION:
            raise ConfigError(
                f"results store of another closim version: schema {row and row[0]}, "
                f"expected {SCHEMA_VERSION}",
                source=str(self.path),
            )

    def close(self) -> None:
        """Closes the connection."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def statuses(self, keys: Iterable[str] | None = None) -> dict[str, tuple[str, str | None]]:
        """key -> (status, error) of the stored points (of ``keys`` only, when given)."""
        found: dict[str, tuple[str, str | None]] = {}
        if keys is None:
            rows = self.conn.execute("SELECT key, status, error FROM points").fetchall()
            return {k: (s, e) for k, s, e in rows}
        wanted = list(keys)
        for i in range(0, len(wanted), 500):  # SQLite limits the parameters of one statement
            chunk = wanted[i : i + 500]
            marks = ",".join("?" * len(chunk))
            rows = _retry(
                lambda chunk=chunk, marks=marks: self.conn.execute(
                    f"SELECT key, status, error FROM points WHERE key IN ({marks})", chunk
                ).fetchall()
            )
            found.update({k: (s, e) for k, s, e in rows})
        return found

    def get(self, key: str) -> tuple[str, str | None] | None:
        """(status, error) of the point stored under ``key``, or None."""
        row = _retry(
            lambda: self.conn.execute(
                "SELECT status, error FROM points WHERE key = ?", (key,)
            ).fetchone()
        )
        return None if row is None else (row[0], row[1])

    def insert(self, record: Record) -> bool:
        """Commits ``record``; False when its key was already stored (that row is kept)."""
        values = (
            record.key,
            record.sweep,
            record.point_index,
            _dumps(record.axes),
            record.status,
            record.error,
            None if record.totals is None else _dumps(record.totals),
            _dumps(record.extra),
            None if record.layers is None else _dumps(record.layers),
            None if record.config is None else _dumps(record.config),
            *(record.meta.get(c.removeprefix("meta_")) for c in META_COLUMNS),
        )
        marks = ",".join("?" * len(_COLUMNS))
        cursor = _retry(
            lambda: self.conn.execute(
                f"INSERT OR IGNORE INTO points ({','.join(_COLUMNS)}) VALUES ({marks})", values
            )
        )
        return cursor.rowcount == 1

    def rows(self, sweep: str | None = None) -> list[sqlite3.Row]:
        """Every stored point (of ``sweep`` only, when given), in sweep and point order."""
        self.conn.row_factory = sqlite3.Row
        query = "SELECT * FROM points"
        args: tuple[str, ...] = ()
        if sweep is not None:
            query += " WHERE sweep = ?"
            args = (sweep,)
        query += " ORDER BY sweep, point_index, key"
        try:
            return _retry(lambda: self.conn.execute(query, args).fetchall())
        finally:
            self.conn.row_factory = None


def _dumps(data: Any) -> str:
    """Compact JSON; key order is kept (axes stay in the sweep file's order)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=True)


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    """One table row: sweep, key, axes, status, error, extras, totals flattened, meta columns."""
    from closim.sweep.spec import axis_text

    axes = {path: axis_text(value) for path, value in json.loads(row["axes"]).items()}
    out: dict[str, Any] = {"sweep": row["sweep"], "key": row["key"], **axes}
    out["status"] = row["status"]
    out["error"] = row["error"]
    for name, value in flatten(json.loads(row["extra"] or "{}")).items():
        out.setdefault(name, value)  # an axis (engine, mode) keeps its own column
    out.update(flatten(json.loads(row["totals"] or "{}")))
    out.update({c: row[c] for c in META_COLUMNS})
    return out


def load_results(db: str | Path, *, sweep: str | None = None) -> pd.DataFrame:
    """One row per stored point: ``sweep``, ``key``, the axes as columns (dotted names as the
    sweep file wrote them; mappings as flow YAML text), ``status`` (ok | failed), ``error``,
    run columns (``hw``, ``workload``, ``engine``, ``mode``, ``batch``, ``params``,
    ``compression``, ``peak_macs_per_cycle``, ``dram_bytes_per_cycle``,
    ``arithmetic_intensity`` in MACs per DRAM byte, ``macs_per_cycle``; ``dense.*`` and
    ``ratios.*`` for sweeps with ``compare: true``), every totals key (docs/architecture.md
    §10) flattened with dots (``traffic_bytes.dram.weights``, ``energy_breakdown_pj.mac``; pJ,
    bytes, cycles), and
    the ``meta_*`` columns (timestamps, wall seconds, host, pid), which differ between runs."""
    with Store(db, create=False) as store:
        rows = store.rows(sweep)
    import pandas as pd

    frame = pd.DataFrame([_row_dict(r) for r in rows])
    if frame.empty:
        return pd.DataFrame(columns=["sweep", "key", "status", "error", *META_COLUMNS])
    ordered = [c for c in frame.columns if not c.startswith("meta_")] + list(META_COLUMNS)
    return frame[ordered]


def _parquet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns that mix types (an axis of numbers and text) become text, as Parquet needs
    one type per column."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        kinds = {type(v) for v in frame[column] if v is not None and v == v}
        if len(kinds) > 1:
            frame[column] = frame[column].map(lambda v: v if v is None or v != v else str(v))
    return frame


def export_results(db: str | Path, out: str | Path, *, sweep: str | None = None) -> int:
    """Writes ``load_results(db)`` to ``out`` (.csv or .parquet, by suffix); returns the row
    count."""
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ConfigError(f"expected a .csv or .parquet file (got {str(out)!r})", source="--out")
    frame = load_results(db, sweep=sweep)
    try:
        if suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            _parquet_safe(frame).to_parquet(out, index=False)
    except OSError as exc:
        message = f"cannot write: {exc.strerror} (got {str(out)!r})"
        raise ConfigError(message, source="--out") from None
    return len(frame)
