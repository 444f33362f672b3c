"""The scope check: is this operation, on these resources, within the policy in force?

Rules (``scope.*``):

=====================  ========  ==========================================================
rule                   effect    when
=====================  ========  ==========================================================
scope.operation        BLOCK     the call's operation is not allowed (or is denied) by a layer
scope.operation_unknown ESCALATE the policy restricts operations and nothing says what the call does
scope.resource         BLOCK     a recipient, account or named resource is outside the allowed set
policy.unknown_agent   BLOCK     the agent id is not listed and the policy has no ``agents.default``
policy.tool            BLOCK     the tool is denied, or not in the agent's ``tools.allow``
policy.argument        BLOCK     an argument value breaks a value rule (``amount: {max: 500}``)
=====================  ========  ==========================================================

Paths, URLs/hosts and SQL tables are checked by their own analyzers (filesystem,
http, sql), which resolve them first (symlinks, DNS, the SQL AST); this module
checks the resources that need no resolution: e-mail recipients, accounts, table names and
other named resources (channels, services, config keys, ...).

>>> from agentgate._call import ToolCall
>>> from agentgate.analyzers.base import make_context
>>> from agentgate.policy import EffectivePolicy, make_scope
>>> pol = EffectivePolicy((make_scope(allowed_operations=["read"]),))
>>> [f.rule_id for f in analyze_scope(ToolCall("send_email", {"to": "a@b.c"}), make_context(ToolCall("send_email", {"to": "a@b.c"}), policy=pol))]
['scope.operation']
"""

from __future__ import annotations

from collections.abc import Sequence

from .._call import ToolCall
from .._decision import Effect, Finding, Severity
from ..policy._engine import call_rule_findings
from .base import Context

__all__ = ["analyze_scope"]

# Paths, URLs and hosts are checked by their analyzers after resolution; SQL tables by the SQL analyzer.
_OWN_KINDS = frozenset(
    {"email", "account", "generic", "table", "customer", "invoice", "scheduled", "namespace", "channel", "phone",
     "github", "git", "s3"}
)  # fmt: skip


def analyze_scope(call: ToolCall, ctx: Context) -> Sequence[Finding]:
    """Check the call's operation and named resources against the effective policy."""
    policy = ctx.policy
    if not policy.layers:
        return ()
    out: list[Finding] = call_rule_findings(ctx) if policy.has_call_rules else []
    cls = ctx.classification
    # A shell tool's own "execute" says only that it runs commands: the shell analyzer
    # checks the effect of each command it parses (ls reads, rm deletes, python executes).
    per_command = (
        cls.kind == "shell"
        and cls.operation == "execute"
        and cls.operation_source != "spec"
        and any(t.source != "sniff" for t in ctx.targets("shell"))
    )
    if policy.restricts_operations and not per_command:
        op = cls.operation
        if op is None:
            # SQL tools without a parsable statement are the SQL analyzer's to judge.
            if cls.kind != "sql":
                out.append(
                    Finding(
                        "scope.operation_unknown",
                        Severity.MEDIUM,
                        Effect.ESCALATE,
                        f"cannot tell what {call.tool_name!r} does, and the scope restricts operations; "
                        "declare it with register_tools / tools: (operation: ...)",
                        call.tool_name,
                    )
                )
        elif not policy.allows_operation(op):
            layer = policy.denying_layer(op)
            denied = layer is not None and op in set(layer.deny_operations)
            allowed = ", ".join(layer.allowed_operations) if layer is not None and layer.allowed_operations else "none"
            why = f"denied by {layer.name}" if denied and layer else f"allowed: {allowed}"
            out.append(
                Finding(
                    "scope.operation",
                    Severity.HIGH,
                    Effect.BLOCK,
                    f"operation {op!r} of {call.tool_name!r} is outside the scope ({why})",
                    op,
                )
            )
    if policy.has_resource_rules:
        for res in cls.resources:
            if res.kind not in _OWN_KINDS:
                continue
            if not policy.allows_resource(res.value, res.kind):
                layer = policy.resource_layer(res.value, res.kind)
                pats = ", ".join(layer.allowed_resources if layer else ()) or "none"
                where = layer.name if layer else "scope"
                out.append(
                    Finding(
                        "scope.resource",
                        Severity.HIGH,
                        Effect.BLOCK,
                        f"{res.argument}={res.value!r} ({res.kind}) is outside the resources of {where} ({pats})",
                        res.value,
                        res.argument,
                    )
                )
    return out
