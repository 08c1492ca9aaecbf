"""Allows ``python -m closim``."""

from closim.cli import main

raise SystemExit(main())
