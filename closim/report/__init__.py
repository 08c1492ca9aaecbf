"""Results as data (dicts, DataFrames) and as text (rich tables, JSON, CSV) and figures."""
