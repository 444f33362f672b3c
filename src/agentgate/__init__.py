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

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import AgentGateError, ConfigError, FirewallBlockedError, JudgeError

__version__ = "0.2.0"

# The public names resolve on first use (PEP 562): `import agentgate` stays a few milliseconds
# instead of loading sqlglot, pydantic, the judge and asyncio up front; the first decision (or
# protect_all()) pays for what it needs.
_LAZY: dict[str, str] = {
    "AgentContext": "._context",
    "Effect": "._decision",
    "Finding": "._decision",
    "Firewall": "._firewall",
    "Plan": "._plan",
    "PolicyEngine": "._firewall",
    "Severity": "._decision",
    "ToolCall": "._call",
    "ToolSpec": "._call",
    "Verdict": "._decision",
    "VerdictType": "._decision",
    "agent_context": "._context",
    "flush": "._api",
    "get_context": "._context",
    "get_firewall": "._firewall",
    "guard": "._api",
    "plan": "._plan",
    "propagate": "._context",
    "protect_all": "._api",
    "reconfigure": "._firewall",
    "register_tools": "._api",
    "scope": "._firewall",
    "set_firewall": "._firewall",
    "shutdown": "._api",
    "unprotect_all": "._api",
}

if TYPE_CHECKING:
    from ._api import flush, guard, protect_all, register_tools, shutdown, unprotect_all
    from ._call import ToolCall, ToolSpec
    from ._context import AgentContext, agent_context, get_context, propagate
    from ._decision import Effect, Finding, Severity, Verdict, VerdictType
    from ._firewall import Firewall, get_firewall, reconfigure, scope, set_firewall
    from ._plan import Plan, plan

    #: The seed's name for the decision engine.
    PolicyEngine = Firewall


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'agentgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), "Firewall" if name == "PolicyEngine" else name)
    globals()[name] = value  # later look-ups are plain module attributes
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "AgentContext",
    "AgentGateError",
    "ConfigError",
    "Effect",
    "Finding",
    "Firewall",
    "FirewallBlockedError",
    "JudgeError",
    "Plan",
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
    "plan",
    "propagate",
    "protect_all",
    "reconfigure",
    "register_tools",
    "scope",
    "set_firewall",
    "shutdown",
    "unprotect_all",
]
