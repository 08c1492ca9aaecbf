"""Lowering and mapping: layer stages x passes -> batched GEMMs -> SRAM tiles on PE arrays."""
