"""What every integration calls: decide one tool call through the default firewall.

Integrations build the call from what the framework gives them (a dict of
arguments, or a JSON string from a model) and call `guard_call` /
`aguard_call` *before* the tool runs. In enforce mode a block raises
`FirewallBlockedError`; the integration decides whether to let it propagate
or to hand the model a tool error (``on_block="return_error"``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .._call import ToolCall
from .._decision import Verdict

__all__ = ["acting_as", "aguard_call", "guard_call", "parse_arguments", "record_result"]


def parse_arguments(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Turn a framework's raw tool input into (arguments by name, raw text).

    A JSON object string becomes its dict; any other string (a single-input
    tool, or malformed JSON from a model) is kept whole under ``input`` so it is
    still analyzed, never dropped.
    """
    if isinstance(raw, Mapping):
        return dict(raw), None
    if raw is None:
        return {}, None
    if isinstance(raw, (bytes, bytearray)):
        raw = raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        text = raw.strip()
        if text.startswith("{"):
            try:
                val = json.loads(text)
            except ValueError:
                return {"input": raw}, raw
            if isinstance(val, dict):
                return val, raw
        return {"input": raw}, raw
    return {"input": raw}, None


def _call(tool_name: str, arguments: Any, framework: str, call_id: str | None) -> ToolCall:
    args, raw = parse_arguments(arguments)
    return ToolCall(tool_name=tool_name, arguments=args, framework=framework, call_id=call_id, raw_payload=raw)


def guard_call(tool_name: str, arguments: Any, *, framework: str, call_id: str | None = None) -> Verdict:
    """Decide a call through the default firewall; raises FirewallBlockedError on block (enforce mode)."""
    from .._firewall import get_firewall

    return get_firewall().check(_call(tool_name, arguments, framework, call_id))


async def aguard_call(tool_name: str, arguments: Any, *, framework: str, call_id: str | None = None) -> Verdict:
    """Async twin of `guard_call` (never blocks the event loop on the judge)."""
    from .._firewall import get_firewall

    return await get_firewall().acheck(_call(tool_name, arguments, framework, call_id))


def record_result(verdict: Verdict, result: Any) -> None:
    """Attach a tool's result to the current agent's history (provenance rules read it)."""
    from .._context import get_context

    get_context().record_result(verdict.decision_id, result)


@contextlib.contextmanager
def acting_as(names: Iterable[str]) -> Iterator[None]:
    """Delegation only narrows: decide what runs inside as the sub-agent chain *names*.

    *names* are a framework's agents from the outermost delegating one to the one making
    the call (LangGraph subgraph nodes, CrewAI delegators then the acting crew member).
    Inside ``agent_context(agent_id=...)``, each name that has its own entry under
    ``agents:`` and is not already in the lineage becomes a sub-agent of the one before
    it (`AgentContext.child`), so the firewall intersects every policy on the chain
    (docs/policy.md, "Layers and delegation"). Outside any agent id, and for names with no
    entry, nothing changes: a framework's naming alone never selects a policy in place of
    the caller's, because that could widen it. The sub-agent's history starts from the
    caller's and is handed back when the block ends in the flow that owns the caller.
    """
    from .._context import _use_context, current_context
    from .._firewall import get_firewall

    outer = current_context()
    if outer is None or not outer.agent_id:
        yield
        return
    listed = get_firewall().policy
    chain = [outer]
    for name in names:
        if name and name != "default" and name in listed and name not in chain[-1].lineage():
            chain.append(chain[-1].child(agent_id=name))
    if len(chain) == 1:
        yield
        return
    try:
        with _use_context(chain[-1]):
            yield
    finally:
        for parent, child in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
            parent.merge_child(child)
