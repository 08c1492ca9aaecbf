"""closim's version, in one place (``closim.__version__`` and the results store read it)."""

from pathlib import Path

VERSION = "0.1.0"

#: The installed package's folder (``closim/``): bundled configs sit in the repository above it.
PACKAGE_DIR = Path(__file__).resolve().parents[1]
