"""Reading sweep results for plots and reports: a store, a CSV or a Parquet file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from closim.model.errors import ConfigError

if TYPE_CHECKING:  # pandas loads only when a file is read
    import pandas as pd

STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db")


def load_results_file(path: str | Path) -> pd.DataFrame:
    """Sweep results from a store (.sqlite, .sqlite3, .db), a .csv or a .parquet file."""
    from closim.sweep.store import load_results  # lazy: the store module loads SQLite

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (*STORE_SUFFIXES, ".csv", ".parquet"):
        raise ConfigError(
            f"expected a results store (.sqlite, .db), .csv or .parquet file (got {str(path)!r})",
            source=str(path),
        )
    if suffix in STORE_SUFFIXES:
        return load_results(path)
    if not path.is_file():
        raise ConfigError("no such results file", source=str(path))
    try:
        import pandas as pd

        return pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read results: {exc}", source=str(path)) from None
