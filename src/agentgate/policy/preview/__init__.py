"""Decide under a candidate policy without enforcing it: policy tests, replay, shadow mode.

Design
------
All three build a *candidate* firewall (`candidate_firewall`) from a policy file, a `Config`,
or a stored revision (``<store URL>#<revision>``) and ask it for the **tier-1** verdict
(`Firewall.evaluate_tier1`): allow, block, or escalate (what the judge or approver would be
asked about). A candidate never enforces, never writes the audit trail, never calls a judge or
a planner, and keeps its counters (rate limits, history rules) in memory of its own, so it can
never use up a live agent's budget in Redis.

* **Policy tests** (`run_policy_tests`, ``agentgate test``): YAML files listing calls and the
  verdict (and optionally the rule) the policy must give; exit codes like ``opa test``.
* **Replay** (`replay`, ``agentgate replay``): the calls recorded in the audit trail are decided
  again under the candidate; the verdicts that change are reported with a summary. Replay
  sees what the trail kept: **arguments are recorded redacted** (secrets, ``redact_fields``),
  so a call whose record says ``redacted`` may decide differently on its real values — such
  changes are flagged. ``scope()`` layers active in the code are not recorded either: replay
  decides under the candidate's agent policies alone. Rate limits are not replayed (they
  depend on wall-clock time); history rules are, in recorded order per agent and task.
* **Shadow mode** (`ShadowPolicy`, ``shadow:`` / ``protect_all(shadow=...)``): the candidate
  decides every live call *after* the live decision; a difference is recorded in the audit
  record (``payload.shadow``) and counted (`ShadowPolicy.stats`). It is never enforced. With no
  shadow configured the cost on the decision path is one attribute check.
"""

from __future__ import annotations

from ._candidate import candidate_firewall, load_candidate
from ._replay import ReplayChange, ReplayReport, replay
from ._shadow import ShadowPolicy
from ._tests import PolicyTestResult, load_policy_tests, run_policy_tests

__all__ = [
    "PolicyTestResult",
    "ReplayChange",
    "ReplayReport",
    "ShadowPolicy",
    "candidate_firewall",
    "load_candidate",
    "load_policy_tests",
    "replay",
    "run_policy_tests",
]
