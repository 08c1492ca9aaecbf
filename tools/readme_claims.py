"""Writes each bundled claims file's verdict table into the README, from closim's own verdicts.

Run: ``python tools/readme_claims.py [--db PATH]`` from the repository root (a few minutes on 2
cores: every claim and control on both engines, and the accuracy claim's training; ``--db``
reuses a results store's simulations, default a fresh temporary one). Each block of the README
between ``<!-- closim validate claims/NAME.yaml --format markdown -->`` and ``<!-- end -->`` is
replaced by that command's output, so the README shows what the code says;
``tests/test_bundled_claims.py`` fails when the two differ.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from closim.claims import evaluate_claims, load_claims
from closim.claims.table import render_claims

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(
    r"(<!-- closim validate (claims/[\w.-]+\.yaml) --format markdown -->\n)(.*?)(<!-- end -->)",
    re.S,
)


def markdown(claims_file: str, db: Path) -> str:
    """The Markdown verdict table of ``claims_file`` (relative to the repository root)."""
    results = evaluate_claims(load_claims(ROOT / claims_file), db=db, train_workers=2)
    return render_claims(results, "markdown")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="results store to reuse")
    args = parser.parse_args()
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    found = BLOCK.findall(text)
    if not found:
        print("README.md has no claims block", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "claims.sqlite"
        tables = {name: markdown(name, db) for _, name, _, _ in found}
    text = BLOCK.sub(lambda m: m.group(1) + tables[m.group(2)] + m.group(4), text)
    readme.write_text(text, encoding="utf-8")
    print(f"README.md: {len(tables)} claims table(s) written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
