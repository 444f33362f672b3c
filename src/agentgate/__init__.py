"""AgentGate: an action-level firewall for AI agents.

Guardrails protect what models *say*; AgentGate protects what agents *do*. Every
tool call is intercepted before it runs, analyzed (tier 1: static analysis;
tier 2: an LLM judge for the ambiguous rest), allowed or blocked with a reason a
human can act on, and recorded in a tamper-evident audit trail.

>>> import agentgate
>>> @agentgate.guard
... def execute_sql(query: str) -> str:
...     return "rows"
"""

from __future__ import annotations

from ._api import flush, guard, protect_all, register_tools, shutdown, unprotect_all
from ._call import ToolCall, ToolSpec
from ._context import AgentContext, agent_context, get_context, propagate
from ._decision import Effect, Finding, Severity, Verdict, VerdictType
from ._errors import AgentGateError, ConfigError, FirewallBlockedError, JudgeError
from ._firewall import Firewall, get_firewall, reconfigure, scope, set_firewall

__version__ = "0.2.0"

#: The seed's name for the decision engine.
PolicyEngine = Firewall

__all__ = [
    "AgentContext",
    "AgentGateError",
    "ConfigError",
    "Effect",
    "Finding",
    "Firewall",
    "FirewallBlockedError",
    "JudgeError",
    "PolicyEngine",
    "Severity",
    "ToolCall",
    "ToolSpec",
    "Verdict",
    "VerdictType",
    "__version__",
    "agent_context",
    "flush",
    "get_context",
    "get_firewall",
    "guard",
    "propagate",
    "protect_all",
    "reconfigure",
    "register_tools",
    "scope",
    "set_firewall",
    "shutdown",
    "unprotect_all",
]
