"""Lowering: a workload's layer plans -> the program of one step (tensors, GEMMs, vector ops)."""

from closim.lowering.lower import lower
from closim.lowering.program import Gemm, Program, Tensor, VectorOp

__all__ = ["Gemm", "Program", "Tensor", "VectorOp", "lower"]
