"""Exceptions raised by AgentGate.

The tree::

    AgentGateError
    ├── FirewallBlockedError      a tool call was blocked (carries the verdict and the call)
    ├── ConfigError               agentgate.yaml / arguments invalid (lists every problem)
    ├── JudgeError                the tier-2 judge failed (timeout, HTTP, malformed answer)
    ├── AuditError                the audit trail could not be opened or verified
    ├── PolicyStoreError          the policy store could not be reached, or has no such revision
    └── MissingDependencyError    an optional extra is not installed (says which)

Third-party errors (sqlite3, psycopg, SDK errors) are translated at the boundary
into these; user code never needs to import a backend to catch AgentGate errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._call import ToolCall
    from ._decision import Verdict

__all__ = [
    "AgentGateError",
    "AuditError",
    "ConfigError",
    "ConfigProblem",
    "FirewallBlockedError",
    "JudgeError",
    "MissingDependencyError",
    "PolicyStoreError",
]

#: The name on the package index (``pip install agentgate-action-firewall``); the module is ``agentgate``.
#: ``agentgate`` itself is held on the index by an unrelated project.
DISTRIBUTION = "agentgate-action-firewall"


class AgentGateError(Exception):
    """Base class of every AgentGate error."""


class FirewallBlockedError(AgentGateError):
    """A tool call was blocked before it ran.

    Attributes:
        verdict: The decision (``verdict.policy_name`` names the rule,
            ``verdict.reasoning`` says why, ``verdict.findings`` has the details).
        tool_call: The call that was blocked.
    """

    def __init__(self, verdict: Verdict, tool_call: ToolCall | None = None) -> None:
        self.verdict = verdict
        self.tool_call = tool_call
        tool = f" {tool_call.tool_name}" if tool_call is not None else ""
        super().__init__(
            f"[AgentGate BLOCKED{tool}] {verdict.policy_name}: {verdict.reasoning} "
            f"(severity={verdict.severity.value}, tier={verdict.tier_used}, decision={verdict.decision_id})"
        )

    @property
    def decision(self) -> Verdict:
        """Alias of `verdict`."""
        return self.verdict


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in a configuration: where it is and what is wrong."""

    message: str
    file: str | None = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where += f":{self.line}"
        key = f" [{self.key}]" if self.key else ""
        return f"{where}{key}: {self.message}"


class ConfigError(AgentGateError):
    """Invalid configuration. ``problems`` lists every problem found, each with file, line and key."""

    def __init__(self, problems: list[ConfigProblem] | str) -> None:
        if isinstance(problems, str):
            problems = [ConfigProblem(problems)]
        self.problems = problems
        n = len(problems)
        head = "invalid configuration" if n == 1 else f"invalid configuration ({n} problems)"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in problems))


class JudgeError(AgentGateError):
    """The tier-2 judge could not give a usable verdict (timeout, HTTP error, bad JSON, refusal)."""


class AuditError(AgentGateError):
    """The audit trail could not be opened, written or verified."""


class PolicyStoreError(AgentGateError):
    """The policy store could not be reached or read, or holds no such revision."""


class MissingDependencyError(AgentGateError, ImportError):
    """An optional dependency is missing; the message gives the ``pip install`` line."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(f"{package} is not installed: pip install '{DISTRIBUTION}[{extra}]'")
