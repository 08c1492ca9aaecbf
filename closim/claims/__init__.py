"""Claim files: a paper's claims written as checks on closim's own numbers (``closim validate``).

A claims file (``claims/*.yaml``) lists claims. Each names its citation, the runs it needs and one
or more checks::

    claims:
      - id: size
        text: "A square Clos layer stores about 10x fewer weights than a dense one"
        source: "Isakov & Kinsy, arXiv:1802.03885, abstract"
        runs:
          clos:  {hw: tpu-v4, workload: ../workloads/closnet-1024-clos.yaml, mode: training}
          dense: {hw: tpu-v4, workload: closnet-1024, set: [workload.batch=8]}
        metric: weight_bytes
        ratio: [clos, dense]        # clos / dense; or value: clos, or difference: [clos, dense]
        at_most: 0.1                # and/or at_least, below, above, between: [lo, hi], within

A run is a simulation (``hw``, ``workload``: a path relative to the claims file or a bundled name;
``mode``; ``engine``, default des; ``set``: overrides as ``[PATH=VALUE, ...]`` or a mapping) and
its ``metric`` any totals key of ``closim run --format json``, dotted for nested ones
(``energy_breakdown_pj.dram``, ``traffic_bytes.dram.weights``), or ``layers.NAME.KEY``.
A claim may instead describe a ``training`` run (``closim.train``: workload, named
``topologies``, epochs, folds, seeds, optimizer, learning_rate) with the metrics ``accuracy``
(mean test accuracy in percent), ``accuracy_std`` (its standard deviation across folds and
seeds, in points), ``params`` and ``seconds_per_epoch``; ``within_spread: true`` on a
``difference`` of accuracies also requires the difference to be within the smaller of the two
standard deviations. ``checks: [...]`` lists several checks (all must hold) instead of one;
``across: {hw: [...], at_least: N}`` repeats the claim on each accelerator (replacing every run's
``hw``) and holds when it holds on at least N of them (default: all).

``ideal: macs`` on a ``ratio: [A, B]`` measures speedup efficiency, ``(ideal A/B) / (metric
A/B)``: the speedup of A over B divided by the compression the ideal metric promises.

A training run takes ``dataset`` (digits or mnist1d); ``confidence: 0.95`` on a
``difference`` of accuracies with ``within: d`` requires the paired t interval of the
per-(fold, seed) differences (``closim.train.paired``) to lie inside ±d.

``controls: [{id, why, runs: {NAME: {...}}}]`` (or ``topologies: {NAME: spec}`` for a training
claim) lists negative controls: the claim with those runs changed (keys given replace the run's;
``set`` goes after its own overrides), for which the same checks must fail. Verdicts
(``closim.claims.records.VERDICTS``): PASS (the checks hold on the DES and on the analytic
engine, and every control fails them), FAIL (they fail on both engines), INCONCLUSIVE (they
hold, but a control holds too or is undecided) and UNDECIDED (the engines disagree).

Simulations are cached in the sweep results store (``closim.sweep.store``) under the same key a
sweep uses (hash of the resolved hw and workload, engine, mode and closim's version), so a second
``closim validate`` simulates nothing, and a sweep and a claims file share results.
"""

from closim.claims.evaluate import evaluate_claims, sim_metric
from closim.claims.loader import load_claims
from closim.claims.records import Check, Claim, ClaimResult, ClaimsFile, Run, Training
from closim.claims.schema import SIM_METRICS, TRAIN_METRICS, ClaimsConfig

__all__ = [
    "SIM_METRICS",
    "TRAIN_METRICS",
    "Check",
    "Claim",
    "ClaimResult",
    "ClaimsConfig",
    "ClaimsFile",
    "Run",
    "Training",
    "evaluate_claims",
    "load_claims",
    "sim_metric",
]
