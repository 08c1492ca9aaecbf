"""Accounting: action counts of a trace, the step's statistics, energy and memory footprint."""
