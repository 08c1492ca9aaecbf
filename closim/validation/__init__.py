"""Validation against published measurements (``closim validate validation/``).

A validation directory holds case files (``*.yaml`` with ``cases:``) and optionally ``suite.yaml``
(``target_mae_pct``, default 10, and ``description``); subdirectories (configs and workloads the
cases use) are not read as cases. A case names a published number, where it was published, and
the closim run it is compared with::

    cases:
      - id: h100-xla-4096cube
        chip: NVIDIA H100 SXM5
        source: "OpenXLA matmul_interpolator_data.h, sm_90, b=1 m=n=k=4096 (commit ...)"
        quantity: tflops          # seconds | cycles | tflops | tops (2 ops per MAC, 1e12/s)
        published: 783.3
        tolerance_pct: 25         # |error| at most this for a pass
        mapping: exact            # exact | derived | assumed: how the run matches the setup
        overhead_us: 0            # a fixed per-call time the measurement includes (added)
        known_issue: null         # text: reported as KNOWN, outside the verdict and the MAE
        run: {hw: h100-like, workload: gemm, engine: analytic,
              set: [workload.batch=4096, workload.layers.gemm.in_features=4096, ...]}

The error is ``(closim - published) / published x 100``; the suite passes when every case that
counts is within its tolerance and the mean absolute error is within the target. Every figure a
bundled case uses is in docs/references.md §21, marked published, derived or assumed.
"""

from closim.validation.evaluate import (
    error_pct,
    evaluate_suite,
    mean_abs_error_pct,
    quantity_value,
    run_case,
    suite_result,
)
from closim.validation.loader import is_validation, load_suite
from closim.validation.records import Case, CaseResult, Run, Suite, SuiteResult
from closim.validation.schema import DEFAULT_TARGET_MAE_PCT, MAPPINGS, QUANTITIES

__all__ = [
    "DEFAULT_TARGET_MAE_PCT",
    "MAPPINGS",
    "QUANTITIES",
    "Case",
    "CaseResult",
    "Run",
    "Suite",
    "SuiteResult",
    "error_pct",
    "evaluate_suite",
    "is_validation",
    "load_suite",
    "mean_abs_error_pct",
    "quantity_value",
    "run_case",
    "suite_result",
]
