"""The labelled adversarial evaluation suite and its runner (``agentgate eval``).

>>> from agentgate.eval import load_cases
>>> len(load_cases()) >= 300
True

See docs/eval.md for the case format, the labelling rules and the metrics.
"""

from agentgate.eval.resolver import eval_resolver
from agentgate.eval.runner import (
    CATEGORIES,
    SPLITS,
    Case,
    CaseResult,
    Counts,
    Outcome,
    PairCounts,
    Report,
    SplitReport,
    firewall_decider,
    load_cases,
    run,
    score,
)

__all__ = [
    "CATEGORIES",
    "SPLITS",
    "Case",
    "CaseResult",
    "Counts",
    "Outcome",
    "PairCounts",
    "Report",
    "SplitReport",
    "eval_resolver",
    "firewall_decider",
    "load_cases",
    "run",
    "score",
]
