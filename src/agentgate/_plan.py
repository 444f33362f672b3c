"""Task plans (intent integrity): what a task needs, asked from the task alone, then enforced.

Some injected actions carry no outside value at all ("delete file 13", "book the most
expensive hotel"): provenance cannot see them, because every argument is one the agent
could have chosen. A plan can. Before the agent reads any untrusted data, the planner
model is asked, **from the user's task text alone** (never a tool output), which tools,
operations and resources the task needs. The answer is frozen into a `Plan` and enforced
deterministically for the rest of the task:

=================  ========  ==================================================================
rule               effect    when
=================  ========  ==================================================================
plan.outside       ESCALATE  the call's tool, operation or a resource is outside the task's plan
                             (``on_violation: block`` makes it BLOCK); the reason shows the plan
plan.unavailable   ESCALATE  no plan could be made (planner timeout, bad JSON, no key, no task):
                             every call that is not a ``read`` escalates; reads pass
=================  ========  ==================================================================

A plan is a policy layer that escalates instead of blocking: an out-of-plan call goes to
the judge or a human (with the plan in the reason), who may still allow it. Enforcement
checks the tool name of a call that is not a read against ``tools`` (globs; empty: any
tool; reading is always allowed to look things up), its operation
against ``operations`` (an unknown operation, or one read from the tool's name, is outside unless
``tools`` names the tool; one read from the arguments always is),
every resource the classifier found (and every SQL table) against ``resources`` with the
matching rules of docs/policy.md (empty: any resource), and a transfer's amount arguments
against ``max_amount``, the largest sum the task states (None: no limit). Paths are matched as written, not resolved: the
filesystem analyzer still resolves them against the scope.

>>> p = Plan("summarize file 12", tools=("read_file",), operations=("read",), resources=("12",))
>>> print(p)
plan for 'summarize file 12': tools=read_file; operations=read; resources=12
>>> p.layer().allowed_operations
('read',)
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._decision import Effect, Finding, Severity
from ._errors import ConfigError, JudgeError
from .policy._operations import BUILTIN_OPERATIONS, check_operation
from .policy._resources import normalize_pattern
from .policy._rules import ToolLists
from .policy._scope import EffectivePolicy, ScopePolicy, _name_pattern

if TYPE_CHECKING:
    from .analyzers.base import Context
    from .judge.base import LLMJudge
    from .judge.prompt import JudgePrompt

__all__ = ["PLAN_JSON_SCHEMA", "Plan", "Planner", "build_planner", "plan", "plan_findings"]

logger = logging.getLogger("agentgate.plan")

OUTSIDE = "plan.outside"
UNAVAILABLE = "plan.unavailable"

_OPS = sorted(BUILTIN_OPERATIONS)

#: The answer schema sent to providers with structured output (strict subset of JSON Schema).
PLAN_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tools": {"type": "array", "items": {"type": "string"}},
        "operations": {"type": "array", "items": {"type": "string", "enum": _OPS}},
        "resources": {"type": "array", "items": {"type": "string"}},
        "max_amount": {"type": ["number", "null"]},
        "reasoning": {"type": "string"},
    },
    "required": ["tools", "operations", "resources", "max_amount", "reasoning"],
    "additionalProperties": False,
}

PLANNER_PROMPT = """\
You are AgentGate's task planner. A human gave an AI agent the task below. Before the agent reads \
any data, list the least the task needs, so that anything else the agent later tries is reviewed.

- tools: names of the tools the task needs, chosen only from the tool catalogue when one is given; \
an empty list when no catalogue is given.
- operations: effects the task needs, from: read, write, delete, execute, send, transfer, configure. \
Reading is always allowed to look things up; add another effect only when the task asks for it \
(replying to an e-mail is send; paying a bill is transfer; deleting is delete).
- resources: the resources the task names, as patterns: a record id or name as written ("12", \
"sales_data"), typed when the kind is clear ("path:reports/**", "host:api.acme.com", \
"email:bob@acme.com", "account:DE89...", "table:orders", "channel:eng", "customer:42"). Leave the \
list empty when the task must first look resources up (it does not name them): an empty list \
places no restriction on resources, a wrong entry blocks the task.
- max_amount: the largest sum of money the task itself states for a payment or transfer (45 for \
"pay back Tom the 45 EUR I owe him"), as a number; null when the task states none.
- reasoning: one sentence.

Answer with exactly one JSON object with the keys tools, operations, resources, max_amount and \
reasoning."""


class _PlanAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    tools: list[str] = Field(max_length=64)
    operations: list[str] = Field(max_length=16)
    resources: list[str] = Field(max_length=128)
    max_amount: float | int | None = Field(default=None, ge=0)
    reasoning: str = Field(max_length=4000)


@dataclass(frozen=True, slots=True)
class Plan:
    """What one task needs: tools (globs), operations and resource patterns.

    Empty ``tools`` or ``resources`` place no restriction on that dimension;
    ``operations`` always restricts (empty means reads only). Build one with
    `agentgate.plan` (asks the model) or directly; enforce it with
    ``agentgate.scope(plan=p)``; `layer` turns it into a plain (blocking) scope layer.
    """

    task: str
    tools: tuple[str, ...] = ()
    operations: tuple[str, ...] = ("read",)
    resources: tuple[str, ...] = ()
    reasoning: str = ""
    model: str = ""
    max_amount: float | None = None
    _policy: EffectivePolicy = field(init=False, repr=False, compare=False)
    _names_ids: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = []
        for op in self.operations:
            try:
                check_operation(op)
            except ValueError as e:
                problems.append(str(e))
        if problems:
            raise ConfigError("plan: " + "; ".join(problems))
        object.__setattr__(self, "operations", tuple(o.strip().lower() for o in self.operations) or ("read",))
        object.__setattr__(self, "resources", tuple(normalize_pattern(r) for r in self.resources))
        object.__setattr__(self, "_policy", EffectivePolicy((self.layer(),)))
        # Does any pattern name a record by id (untyped, not a path/URL/address)? If not, ids pass.
        object.__setattr__(self, "_names_ids", any(_name_pattern(r) for r in self.resources))

    def __str__(self) -> str:
        amount = f"; max_amount={self.max_amount:g}" if self.max_amount is not None else ""
        return (
            f"plan for {self.task[:120]!r}: tools={','.join(self.tools) or 'any'}; "
            f"operations={','.join(self.operations) or 'none'}; resources={','.join(self.resources) or 'any'}" + amount
        )

    def layer(self, name: str = "plan") -> ScopePolicy:
        """The plan as an ordinary scope layer (its violations are ``scope.*`` BLOCKs).

        ``agentgate.scope(plan=p)`` does not use this: it escalates with ``plan.outside``.
        """
        return ScopePolicy(
            task=self.task,
            allowed_operations=self.operations,
            allowed_resources=self.resources,
            name=name,
            tools=ToolLists(allow=self.tools),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (audit, dashboards)."""
        return {
            "task": self.task,
            "tools": list(self.tools),
            "operations": list(self.operations),
            "resources": list(self.resources),
            "max_amount": self.max_amount,
            "reasoning": self.reasoning,
            "model": self.model,
        }


def parse_plan(task: str, text: str, model: str = "") -> Plan:
    """Validate a planner's text as a `Plan`; raise `JudgeError` when it is not one."""
    body = text.strip()
    if body.startswith("```"):
        first_nl = body.find("\n")
        if first_nl < 0 or not body.endswith("```") or len(body) < 6:
            raise JudgeError("malformed plan: unterminated code fence")
        body = body[first_nl + 1 : -3].strip()
    try:
        ans = _PlanAnswer.model_validate_json(body)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()[:4])
        raise JudgeError(f"malformed plan: {problems}") from None
    try:
        return Plan(
            task,
            tools=tuple(t.strip() for t in ans.tools if t.strip()),
            operations=tuple(dict.fromkeys(ans.operations)),
            resources=tuple(r.strip() for r in ans.resources if r.strip()),
            reasoning=ans.reasoning,
            model=model,
            max_amount=float(ans.max_amount) if ans.max_amount is not None else None,
        )
    except ConfigError as exc:
        raise JudgeError(f"malformed plan: {exc}") from None


def _prompt(task: str, tools: Sequence[str]) -> JudgePrompt:
    from .judge.prompt import JudgePrompt

    # Only trusted text goes in: the task and the developer's tool catalogue. No tool
    # output, no history: the plan must not depend on anything an attacker can write.
    lines = [f"TASK:\n{task}"]
    if tools:
        lines.append("TOOL CATALOGUE:\n" + "\n".join(f"- {t}" for t in tools))
    return JudgePrompt(PLANNER_PROMPT, "\n\n".join(lines), "", schema=PLAN_JSON_SCHEMA, schema_name="agentgate_plan")


def _client(
    model: str | None, api_key: str | None, base_url: str | None, provider: str | None, timeout: float
) -> LLMJudge | None:
    from .judge import build_judge

    built = build_judge(
        model, api_key=api_key, base_url=base_url, provider=provider, timeout=timeout, max_tokens=1000, cache=False
    )
    return cast("LLMJudge | None", built)  # cache=False: the bare LLMJudge, or None


def plan(
    task: str,
    *,
    model: str | None = None,
    tools: Sequence[str] = (),
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    timeout: float = 10.0,
) -> Plan:
    """Ask the planner model what *task* needs, from the task text alone.

    Args:
        task: The user's task, as the user wrote it (trusted).
        model: The planner model (default as for the judge: ``AGENTGATE_JUDGE_MODEL``, ...).
        tools: Names of the tools the agent has (trusted: the developer's catalogue);
            without it the plan restricts operations and resources only.
        api_key / base_url / provider: As for ``agentgate.judge.build_judge``.
        timeout: Total seconds for the request, retries included.

    Raises `JudgeError` when no plan can be made (no model configured, timeout,
    malformed answer); the caller decides. `protect_all(plan_model=...)` never raises:
    a task without a plan escalates every call that is not a read (``plan.unavailable``).
    """
    client = _client(model, api_key, base_url, provider, timeout)
    if client is None:
        raise JudgeError("no planner model: set a model with an API key or base URL")
    try:
        text, _, _ = client.ask(_prompt(task, tools))
    finally:
        client.close()
    return parse_plan(task, text, client.model)


async def aplan(
    task: str,
    *,
    model: str | None = None,
    tools: Sequence[str] = (),
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    timeout: float = 10.0,
) -> Plan:
    """The async twin of `plan`."""
    client = _client(model, api_key, base_url, provider, timeout)
    if client is None:
        raise JudgeError("no planner model: set a model with an API key or base URL")
    try:
        text, _, _ = await client.aask(_prompt(task, tools))
    finally:
        await client.aclose()
    return parse_plan(task, text, client.model)


@dataclass(frozen=True, slots=True)
class _Failed:
    reason: str
    at: float


class Planner:
    """Makes one plan per task text and remembers it (the firewall's planner).

    At most `max_plans` tasks are remembered; past that the least recently stored goes.

    A failure is remembered for `retry_after` seconds (so a planner that is down does not
    cost its timeout on every call) and never becomes a plan: the task runs without one,
    which escalates every non-read call.
    """

    def __init__(
        self,
        client: LLMJudge | None,
        *,
        tools: Sequence[str] = (),
        on_violation: Literal["escalate", "block"] = "escalate",
        max_plans: int = 1024,
        retry_after: float = 30.0,
    ) -> None:
        if on_violation not in ("escalate", "block"):
            raise ConfigError(f"plans.on_violation must be 'escalate' or 'block', not {on_violation!r}")
        self.client = client
        self.tools = tuple(tools)
        self.on_violation = on_violation
        self.max_plans = max_plans
        self.retry_after = retry_after
        self.requests = 0
        self._plans: OrderedDict[str, Plan | _Failed] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        """The planner's model ('' when none is configured)."""
        return self.client.model if self.client is not None else ""

    def close(self) -> None:
        """Close the planner's sync HTTP client."""
        if self.client is not None:
            self.client.close()

    def cached(self, task: str) -> Plan | str | None:
        """The remembered plan of *task*, the failure reason, or None (ask the model)."""
        hit = self._plans.get(task)  # a dict read is atomic; the lock guards writes and LRU order
        if isinstance(hit, Plan):
            return hit
        with self._lock:
            hit = self._plans.get(task)
            if hit is None:
                return None
            if isinstance(hit, _Failed):
                if time.monotonic() - hit.at > self.retry_after:
                    del self._plans[task]
                    return None
                return hit.reason
            return hit

    def remember(self, p: Plan) -> None:
        """Use *p* for its task from now on (a plan a person reviewed, or one made by `plan`)."""
        self._store(p.task, p)

    def _store(self, task: str, value: Plan | _Failed) -> None:
        with self._lock:
            self._plans[task] = value
            self._plans.move_to_end(task)
            while len(self._plans) > self.max_plans:
                self._plans.popitem(last=False)

    def get(self, task: str) -> Plan | str:
        """The plan of *task* (asking the model once), or why there is none."""
        hit = self.cached(task)
        if hit is not None:
            return hit
        if self.client is None:
            return self._fail(task, "no planner model configured (no API key or base URL)")
        with self._lock:
            self.requests += 1
        try:
            text, _, _ = self.client.ask(_prompt(task, self.tools))
            p = parse_plan(task, text, self.client.model)
        except Exception as e:  # any failure: no plan, never an allow
            return self._fail(task, f"{type(e).__name__}: {e}")
        self._store(task, p)
        return p

    async def aget(self, task: str) -> Plan | str:
        """The async twin of `get`."""
        hit = self.cached(task)
        if hit is not None:
            return hit
        if self.client is None:
            return self._fail(task, "no planner model configured (no API key or base URL)")
        with self._lock:
            self.requests += 1
        try:
            text, _, _ = await self.client.aask(_prompt(task, self.tools))
            p = parse_plan(task, text, self.client.model)
        except Exception as e:  # any failure: no plan, never an allow
            return self._fail(task, f"{type(e).__name__}: {e}")
        self._store(task, p)
        return p

    def _fail(self, task: str, reason: str) -> str:
        logger.warning("agentgate: no plan for task %r: %s", task[:80], reason)
        self._store(task, _Failed(reason, time.monotonic()))
        return reason


def build_planner(
    model: str | None = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    timeout: float = 10.0,
    tools: Sequence[str] = (),
    on_violation: Literal["escalate", "block"] = "escalate",
) -> Planner:
    """A `Planner`; with no key or URL it has no client and every task runs unplanned (fail closed)."""
    return Planner(_client(model, api_key, base_url, provider, timeout), tools=tools, on_violation=on_violation)


# ------------------------------------------------------------------- enforcement


def _tool_in(name: str, globs: Sequence[str]) -> bool:
    return any(name == g or fnmatch.fnmatchcase(name, g) for g in globs)


def _record_ids(arguments: Any) -> list[tuple[str, str]]:
    """(argument, value) of every record-id argument (``id``, ``*_id``, ``*_ids``) holding scalars.

    The classifier knows no resource kind for ``file_id`` or ``event_id``; a plan that names
    the records its task is about ("file 12") holds side effects on other records to it.
    """
    out: list[tuple[str, str]] = []
    if not isinstance(arguments, dict):
        return out
    for k, v in arguments.items():
        name = str(k)
        low = name.lower()
        if not (low in ("id", "ids") or low.endswith(("_id", "_ids")) or name.endswith(("Id", "Ids"))):
            continue
        values = v if isinstance(v, (list, tuple)) else [v]
        for x in values[:64]:
            if isinstance(x, (str, int)) and not isinstance(x, bool):
                out.append((str(k), str(x)))
    return out


_AMOUNT_ARG = re.compile(r"(?:^|_)(?:amount|sum|total|value)$", re.IGNORECASE)


def _amounts_over(arguments: Any, limit: float) -> list[str]:
    """Why each amount argument of a transfer exceeds *limit* (or cannot be read as an amount)."""
    out: list[str] = []
    if not isinstance(arguments, dict):
        return out
    for k, v in arguments.items():
        if not _AMOUNT_ARG.search(str(k)) or isinstance(v, bool):
            continue
        try:
            n = float(str(v).replace(",", "").strip()) if not isinstance(v, (int, float)) else float(v)
        except ValueError:
            out.append(f"{k}={str(v)[:40]!r} cannot be read as an amount (the task states at most {limit:g})")
            continue
        if not n <= limit * (1 + 1e-9):  # NaN is over, too
            out.append(f"{k}={n:g} exceeds the {limit:g} the task states")
    return out


# Tools whose effect is what their arguments say (a command, code, a statement, a request).
_CONTENT_KINDS = frozenset({"shell", "code", "sql", "http", "deploy", "config"})


def plan_findings(ctx: Context, found: Plan | str, effect: Effect = Effect.ESCALATE) -> list[Finding]:
    """Findings for the call in *ctx* under the task's plan, or under its absence (*found* is the reason)."""
    cls = ctx.classification
    op = cls.operation
    tool = ctx.call.tool_name
    if isinstance(found, str):
        if op == "read":
            return []
        return [
            Finding(
                UNAVAILABLE,
                Severity.MEDIUM,
                Effect.ESCALATE,
                f"no plan for this task ({found[:300]}); {tool!r} ({op or 'unknown operation'}) needs review",
                op or "",
            )
        ]
    outside: list[str] = []
    if found.tools and op != "read" and not _tool_in(tool, found.tools):
        # Reading is always allowed to look things up (the planner is told so): a lookup the plan did
        # not foresee (a reply thread, the user's profile) is not outside it; its resources still are.
        outside.append(f"tool {tool!r} is not in the plan")
    if op is None:
        # A tool the plan names by name is one the planner chose for the task, whatever its effect;
        # any other call whose effect cannot be told is outside.
        if tool not in found.tools:
            outside.append(f"cannot tell what {tool!r} does")
    elif op not in found.operations and not (
        tool in found.tools and cls.operation_source in ("name", "spec") and cls.kind not in _CONTENT_KINDS
    ):
        # A tool the plan names by name is one the planner chose for the task: when the call's
        # operation comes from that name (or its spec) alone, the planner's word for the effect
        # ("book" as transfer, "accept an invite" as write) is not a reason to escalate. An operation
        # read from the arguments (the method of a request), and any call of a tool whose effect is
        # its content (a shell, an interpreter, SQL, HTTP: "run" says nothing of the command), is
        # still held to the plan's operations.
        outside.append(f"operation {op!r} is not in the plan")
    if found.max_amount is not None and op == "transfer":
        outside.extend(_amounts_over(ctx.call.arguments, found.max_amount))
    if found.resources:
        pol = found._policy
        seen: list[tuple[str, str, str]] = [(r.value, r.kind, r.argument) for r in cls.resources]
        for a in (ctx.scratch.get("sql") or {}).values():
            seen.extend((t, "table", "query") for t in (*a.tables_written, *a.tables_read))
        # Record ids are generic resources, held only to the plan's untyped name patterns.
        if op != "read" and found._names_ids:
            named = {r.argument for r in cls.resources}
            seen.extend((v, "generic", k) for k, v in _record_ids(ctx.call.arguments) if k not in named)
        for value, kind, arg in seen:
            if not pol.allows_resource(value, kind):
                outside.append(f"{arg}={value!r} ({kind}) is not in the plan")
    if not outside:
        return []
    return [
        Finding(
            OUTSIDE,
            Severity.HIGH,
            effect,
            f"{'; '.join(outside[:4])} — {found}",
            json.dumps(found.to_dict())[:2000],
        )
    ]
