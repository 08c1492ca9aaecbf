"""Mapping: SRAM tiles of each operation on the PE arrays, and the trace rows they emit."""
