"""The records every stage shares: the accelerator, the workload, the vocabulary and the error."""
