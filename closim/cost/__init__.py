"""The cost model: DRAM, latency, vector and per-operation pipeline cycles, defined once."""
