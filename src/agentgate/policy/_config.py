"""agentgate.yaml: typed models and a loader that reports every problem at once.

Loading validates the whole file with pydantic and raises one `ConfigError`
listing every problem with file, line and key path (a misspelt key and a wrong
type in the same file are both reported). Evaluation never parses YAML: the
firewall turns a loaded `Config` into frozen `ScopePolicy` layers and `ToolSpec`s once.

Example::

    mode: enforce              # or monitor
    on_escalate: block         # block | allow | ask
    audit: sqlite:///.agentgate/audit.db
    rate_limit: {max_calls: 100, window_seconds: 60}
    operations: [aggregate]    # user-defined operations must be declared
    agents:
      default:
        allowed_operations: [read]
      reporting_agent:
        allowed_operations: [read, aggregate, write]
        allowed_resources: [sales_data, "reports/**"]
    tools:
      execute_sql: {kind: sql, resource_arg: query, dialect: postgres}

Loading is bounded (see ``_load``): one parse, no alias bombs, no deep nesting,
duplicate keys are errors, and a file that is not UTF-8 is reported with its line.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .._call import KINDS, ToolSpec
from .._decision import Effect, Severity
from .._errors import ConfigError, ConfigProblem
from ._engine import PROTECTED_PREFIXES, Override, Suppression
from ._history import compile_history
from ._load import decode_config, load_yaml_text
from ._operations import RETIRED_OPERATIONS, check_operation
from ._resources import RESOURCE_KINDS
from ._rules import ToolLists, compile_value_rules
from ._scope import ScopePolicy

__all__ = ["AgentPolicyModel", "Config", "ToolModel", "load_config", "parse_config", "tool_spec_from_dict"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolListsModel(_Strict):
    """``tools: {allow: [...], deny: [...]}`` of an agent: globs on tool names."""

    allow: list[str] = Field(default_factory=list, description="Only these tools (globs); empty = any.")
    deny: list[str] = Field(default_factory=list, description="Never these tools (globs); wins over allow.")


class ConstraintModel(_Strict):
    """Constraints on one argument's value (see docs/policy.md, "Rules on argument values")."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    min: float | int | str | None = Field(None, description="Inclusive lower bound (a number).")
    max: float | int | str | None = Field(None, description="Inclusive upper bound (a number).")
    in_: list[Any] | None = Field(None, alias="in", description="Allowed values (strings case-insensitive).")
    not_in: list[Any] | None = Field(None, description="Forbidden values.")
    glob: str | None = Field(None, description="Glob the whole value must match (case-insensitive).")
    regex: str | None = Field(None, description="RE2 regex the whole value must match (linear time).")
    max_items: int | None = Field(None, ge=0, description="At most this many list/dict entries.")
    max_length: int | None = Field(None, ge=0, description="At most this many characters.")
    required: bool | None = Field(None, description="The argument must be passed.")
    forbidden: bool | None = Field(None, description="The argument must not be passed.")

    def raw(self) -> dict[str, Any]:
        """The constraints given, by their YAML names."""
        return self.model_dump(by_alias=True, exclude_none=True)


class SuppressionModel(_Strict):
    """Silence one rule (for one tool and/or resource); the reason is recorded with every decision."""

    rule: str = Field(description="Rule id or glob, e.g. sql.drop.")
    reason: str = Field(min_length=3, description="Why (required; recorded in the verdict and audit).")
    tool: str | None = Field(None, description="Only for this tool (name or glob).")
    resource: str | None = Field(None, description="Only when every resource of the call matches this pattern.")

    @field_validator("rule")
    @classmethod
    def _not_protected(cls, v: str) -> str:
        if v.startswith(PROTECTED_PREFIXES) or v in ("*", "**"):
            raise ValueError(
                f"{v!r}: the policy's own rules (scope.*, policy.*) cannot be suppressed; change the scope"
            )
        return v


class OverrideModel(_Strict):
    """Change one rule's severity and/or effect; the reason is recorded with every decision."""

    rule: str = Field(description="Rule id or glob.")
    reason: str = Field(min_length=3, description="Why (required; recorded in the verdict and audit).")
    severity: Literal["info", "low", "medium", "high", "critical"] | None = None
    effect: Literal["block", "escalate", "info"] | None = None

    @field_validator("rule")
    @classmethod
    def _not_protected(cls, v: str) -> str:
        return SuppressionModel._not_protected(v)


class AgentPolicyModel(_Strict):
    """One agent's policy (an entry under ``agents:``)."""

    task: str = Field("", description="What this agent is for (the judge reads it).")
    allowed_operations: list[str] = Field(default_factory=list, description="Operations allowed; empty = any.")
    allowed_resources: list[str] = Field(default_factory=list, description="Resource names/globs; empty = any.")
    deny_operations: list[str] = Field(default_factory=list, description="Operations always denied.")
    denied_resources: list[str] = Field(default_factory=list, description="Resources always denied.")
    max_rate: int | None = Field(None, ge=1, description="Max tool calls per minute for this agent.")
    tools: ToolListsModel | None = Field(None, description="Tool allow/deny lists (globs).")
    arguments: dict[str, dict[str, ConstraintModel]] = Field(
        default_factory=dict, description="Value rules: {tool or glob: {argument: constraints}}."
    )
    history: list[dict[str, Any]] = Field(
        default_factory=list, description="History rules (after/forbid, limit, first_time)."
    )
    suppress: list[SuppressionModel] = Field(default_factory=list, description="Suppressions for this agent's calls.")
    overrides: list[OverrideModel] = Field(default_factory=list, description="Severity/effect overrides.")

    def to_scope(self, name: str, declared: list[str] | None = None) -> ScopePolicy:
        """The frozen policy layer for evaluation (raises ValueError for a bad rule)."""
        layer = f"agent:{name}"
        rules = {t: {a: c.raw() for a, c in args.items()} for t, args in self.arguments.items()}
        return ScopePolicy(
            task=self.task,
            allowed_resources=tuple(self.allowed_resources),
            allowed_operations=tuple(self.allowed_operations),
            deny_operations=tuple(self.deny_operations),
            denied_resources=tuple(self.denied_resources),
            max_rate=self.max_rate,
            name=layer,
            tools=ToolLists(tuple(self.tools.allow), tuple(self.tools.deny)) if self.tools else ToolLists(),
            value_rules=compile_value_rules(rules),
            history=compile_history(self.history, layer, declared),
        )


class ToolModel(_Strict):
    """A tool declaration (an entry under ``tools:``), equivalent to ``register_tools``."""

    kind: str = Field(
        "generic", description="sql, file, http, shell, email, message, payment, config, code, deploy, generic"
    )
    operation: str | None = Field(None, description="Operation the tool performs; omitted = derived.")
    resource_arg: str | None = Field(None, description="The argument that names the resource.")
    resource_args: list[str] = Field(default_factory=list, description="Several resource arguments.")
    content_args: list[str] = Field(default_factory=list, description="Arguments holding the payload to analyze.")
    side_effect: bool | None = Field(None, description="False for pure reads.")
    dialect: str | None = Field(None, description="SQL dialect (sqlglot name) for sql tools.")
    resources: dict[str, str] = Field(
        default_factory=dict, description="Resource kind per argument, e.g. {to: channel, ref: invoice}."
    )
    output: Literal["trusted", "untrusted"] | None = Field(
        None, description="Whether values in this tool's output may steer side effects (default untrusted)."
    )
    trusted: bool | None = Field(None, description="Shorthand for output: trusted.")

    @field_validator("operation")
    @classmethod
    def _operation_word(cls, v: str | None) -> str | None:
        if v is not None and v.strip().lower() in RETIRED_OPERATIONS:
            raise ValueError(f"operation {v.strip().lower()!r} is retired: {RETIRED_OPERATIONS[v.strip().lower()]}")
        return v

    @field_validator("resources")
    @classmethod
    def _resource_kinds(cls, v: dict[str, str]) -> dict[str, str]:
        for arg, kind in v.items():
            if kind not in RESOURCE_KINDS:
                raise ValueError(
                    f"{arg}: unknown resource kind {kind!r}; expected one of {', '.join(sorted(RESOURCE_KINDS))}"
                )
        return v

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in KINDS:
            raise ValueError(f"unknown kind {v!r}; expected one of {', '.join(sorted(KINDS))}")
        return v

    def to_spec(self) -> ToolSpec:
        """The frozen spec for evaluation."""
        ra = tuple(self.resource_args) + ((self.resource_arg,) if self.resource_arg else ())
        ra += tuple(a for a in self.resources if a not in ra)
        op = self.operation.strip().lower() if self.operation else None
        return ToolSpec(
            self.kind, op, ra, tuple(self.content_args), self.side_effect, self.dialect, tuple(self.resources.items())
        )


class RateLimitModel(_Strict):
    """``rate_limit:`` — sliding window per agent (optionally per tool)."""

    max_calls: int = Field(100, ge=1)
    window_seconds: float = Field(60.0, gt=0)
    per_tool: bool = False
    backend: str = Field("memory", description="memory, or a redis:// URL shared by many processes")


class AuditModel(_Strict):
    """``audit:`` — where decisions are recorded."""

    url: str | list[str] | None = None
    redact_fields: list[str] = Field(default_factory=list)
    on_full: Literal["block", "spill"] = "block"


class JudgeModel(_Strict):
    """``judge:`` — the tier-2 model (see docs/judge.md)."""

    model: str | None = None
    provider: Literal["openai", "anthropic"] | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float | None = Field(None, gt=0)
    max_concurrency: int | None = Field(None, ge=1)
    options: dict[str, Any] = Field(default_factory=dict, description="Extra provider/threshold options.")


class ApproverModel(_Strict):
    """``approver:`` — who answers ``on_escalate: ask`` (docs/api.md#approvals). ``approver: queue`` is short for ``{kind: queue}``."""

    kind: Literal["console", "queue"] = Field(
        "console", description="console: ask on the terminal; queue: the durable approval queue (API, CLI, dashboard)."
    )
    timeout: float | None = Field(None, gt=0, description="Seconds to wait for an answer (console 60, queue 300).")
    url: str | None = Field(
        None, description="queue: its database (sqlite/postgresql URL); default AGENTGATE_STATE_URL, else the audit's."
    )


class PlansModel(_Strict):
    """``plans:`` — one plan per task, asked from the task alone and enforced (docs/plans.md)."""

    model: str | None = None
    provider: Literal["openai", "anthropic"] | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    timeout: float = Field(10.0, gt=0)
    tools: list[str] = Field(default_factory=list, description="The agent's tool catalogue, shown to the planner.")
    on_violation: Literal["escalate", "block"] = "escalate"


class TelemetryModel(_Strict):
    """``telemetry:``: decision spans, metrics and logs (docs/telemetry.md). Absent = none of them."""

    otel: bool = Field(
        False, description="A span per decision and the metrics through OpenTelemetry (agentgate[otel])."
    )
    metrics: bool = Field(True, description="Count decisions in the process registry served at /metrics.")
    log_decisions: bool = Field(True, description="Log each decision on the agentgate.decisions logger.")


class AnalyzerSettingsModel(_Strict):
    """``analyzers:`` — knobs of the tier-1 analyzers."""

    resolve_dns: bool = True
    dns_timeout: float = Field(1.0, gt=0)
    dns_cache_ttl: float = Field(60.0, ge=0)
    sql_dialect: str | None = None
    allow_private_networks: list[str] = Field(default_factory=list)
    sensitive_paths: list[str] = Field(default_factory=list)
    time_budget_ms: float | None = Field(50.0, gt=0, description="Tier-1 CPU budget per call; null turns it off.")


_PROVENANCE_ACTION = Literal["block", "escalate", "allow"]


class ProvenanceModel(_Strict):
    """``provenance:`` — what a side effect aimed at a value from an untrusted tool output does, per operation."""

    send: _PROVENANCE_ACTION = "block"
    transfer: _PROVENANCE_ACTION = "block"
    write: _PROVENANCE_ACTION = "escalate"
    delete: _PROVENANCE_ACTION = "escalate"
    configure: _PROVENANCE_ACTION = "escalate"
    execute: _PROVENANCE_ACTION = "escalate"


class Config(_Strict):
    """The whole agentgate.yaml."""

    version: int = 1
    mode: Literal["enforce", "monitor"] = "enforce"
    on_escalate: Literal["block", "allow", "ask"] = "block"
    on_judge_error: Literal["block", "allow", "ask"] = "block"
    on_audit_failure: Literal["allow", "block"] = Field(
        "allow", description="block: refuse actions while the audit trail cannot record them (docs/audit.md)."
    )
    judge: JudgeModel | None = None
    approver: ApproverModel | None = None
    plans: PlansModel | None = None
    audit: AuditModel | None = None
    rate_limit: RateLimitModel | None = None
    analyzers: AnalyzerSettingsModel = Field(default_factory=AnalyzerSettingsModel)  # type: ignore[arg-type]
    operations: list[str] = Field(
        default_factory=list, description="User-defined operations (declared, so a typo is an error)."
    )
    agents: dict[str, AgentPolicyModel] = Field(
        default_factory=dict,
        description="Agent policies by agent id; without a 'default' entry, unlisted agent ids are refused.",
    )
    tools: dict[str, ToolModel] = Field(default_factory=dict)
    provenance: ProvenanceModel = Field(default_factory=ProvenanceModel)
    suppress: list[SuppressionModel] = Field(default_factory=list, description="Suppressions for every agent.")
    overrides: list[OverrideModel] = Field(
        default_factory=list, description="Severity/effect overrides for every agent."
    )
    history_backend: str | None = Field(
        None, description="Where history rules keep state: memory, or redis://... (default: rate_limit.backend)."
    )
    shadow: str | None = Field(
        None,
        description="A candidate policy decided beside every call and never enforced: a file, or "
        "<store URL>#<revision> (docs/policy-testing.md).",
    )
    telemetry: TelemetryModel | None = Field(
        None, description="Decision spans, metrics and logs; true for the defaults (not part of the policy revision)."
    )
    source: str | None = Field(None, exclude=True, description="File the config came from.")
    _layers: dict[str, ScopePolicy] | None = PrivateAttr(default=None)
    # Set when the document came from a policy store: the store's revision (a hash of the
    # document's text) is then what every decision records, so a verdict names the stored
    # document it was decided under.
    _store_revision: str | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if isinstance(data.get("audit"), (str, list)):
            data["audit"] = {"url": data["audit"]}
        if isinstance(data.get("rate_limit"), int) and not isinstance(data.get("rate_limit"), bool):
            data["rate_limit"] = {"max_calls": data["rate_limit"]}
        if isinstance(data.get("judge"), str):
            data["judge"] = {"model": data["judge"]}
        if isinstance(data.get("approver"), str):
            data["approver"] = {"kind": data["approver"]}
        if data.get("telemetry") is True:
            data["telemetry"] = {}
        elif data.get("telemetry") is False:
            data["telemetry"] = None
        return data

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only version 1 is supported")
        return v

    @field_validator("operations")
    @classmethod
    def _declared_words(cls, v: list[str]) -> list[str]:
        out = []
        for op in v:
            low = op.strip().lower()
            if low in RETIRED_OPERATIONS:
                raise ValueError(f"operation {low!r} is retired: {RETIRED_OPERATIONS[low]}")
            if not low or not low.replace("_", "").replace("-", "").isalnum():
                raise ValueError(f"operation names are words (letters, digits, _ or -), not {op!r}")
            out.append(low)
        return out

    def agent_layers(self) -> dict[str, ScopePolicy]:
        """Every agent's frozen policy layer (compiled once per Config: a large file is not compiled twice)."""
        if self._layers is None:
            self._layers = {name: a.to_scope(name, self.operations) for name, a in self.agents.items()}
        return dict(self._layers)

    def suppressions(self, agent: str | None) -> tuple[tuple[Suppression, ...], tuple[Override, ...]]:
        """The escape hatches in force for *agent*: the file's own, then the agent's."""
        sups = [Suppression(s.rule, s.reason, s.tool, s.resource, "config") for s in self.suppress]
        ovs = [_override(o, "config") for o in self.overrides]
        a = self.agents.get(agent) if agent else None
        if a is not None:
            sups += [Suppression(s.rule, s.reason, s.tool, s.resource, f"agent:{agent}") for s in a.suppress]
            ovs += [_override(o, f"agent:{agent}") for o in a.overrides]
        return tuple(sups), tuple(ovs)

    def revision(self) -> str:
        """Short hash identifying this policy (recorded with every decision).

        For a document loaded from a policy store this is the store's revision.
        """
        if self._store_revision is not None:
            return self._store_revision
        # Telemetry is how decisions are reported, not what is decided: it does not change the revision.
        blob = json.dumps(self.model_dump(mode="json", exclude={"source", "telemetry"}), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# ------------------------------------------------------------------------ loading


def _override(o: OverrideModel, layer: str) -> Override:
    return Override(
        o.rule,
        o.reason,
        Severity(o.severity) if o.severity else None,
        Effect(o.effect) if o.effect else None,
        layer,
    )


def _line_for(lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    # pydantic locs may carry validator tags; walk up until a known path.
    path = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def parse_config(
    data: Any,
    *,
    source: str | None = None,
    text: str | None = None,
    lines: Mapping[tuple[str | int, ...], int] | None = None,
) -> Config:
    """Validate already-loaded data (a dict) as a Config; errors carry lines when *text* or *lines* is given.

    Every problem is reported at once: schema errors, unknown or retired operation
    names (with a did-you-mean), bad value/history rules.
    """
    if lines is None:
        lines = load_yaml_text(text, source or "<config>")[1] if text is not None else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem("top level must be a mapping of settings", source, lines.get(()))])
    problems: list[ConfigProblem] = _operation_problems(data, source, lines)
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = tuple(err["loc"])
            key = ".".join(str(p) for p in loc) or None
            msg = err["msg"]
            if err["type"] == "extra_forbidden":
                msg = "unknown key" + _suggest(loc, data)
            elif "input" in err and err["type"] not in ("missing",):
                msg = f"{msg} (got {err['input']!r})"
            problems.append(ConfigProblem(msg, source, _line_for(lines, loc), key))
        raise ConfigError(problems) from None
    layers: dict[str, ScopePolicy] = {}
    if not problems:
        for name, agent in cfg.agents.items():
            try:
                layers[name] = agent.to_scope(name, cfg.operations)
            except ValueError as e:
                loc = ("agents", name)
                problems.append(ConfigProblem(str(e), source, _line_for(lines, loc), f"agents.{name}"))
    if problems:
        raise ConfigError(problems)
    out = cfg.model_copy(update={"source": source})
    out._layers = layers
    return out


def _operation_problems(
    data: Mapping[str, Any], source: str | None, lines: Mapping[tuple[str | int, ...], int]
) -> list[ConfigProblem]:
    """Unknown and retired operation names anywhere in the raw file, each with its line."""
    declared = [str(o).strip().lower() for o in data.get("operations") or () if isinstance(o, str)]
    out: list[ConfigProblem] = []
    agents = data.get("agents")
    if isinstance(agents, Mapping):
        for name, agent in agents.items():
            if not isinstance(agent, Mapping):
                continue
            for field in ("allowed_operations", "deny_operations"):
                ops = agent.get(field)
                if not isinstance(ops, list):
                    continue
                for i, op in enumerate(ops):
                    if not isinstance(op, str):
                        continue
                    try:
                        check_operation(op, declared)
                    except ValueError as e:
                        loc = ("agents", name, field, i)
                        out.append(ConfigProblem(str(e), source, _line_for(lines, loc), f"agents.{name}.{field}[{i}]"))
    tools = data.get("tools")
    if isinstance(tools, Mapping):
        for name, tool in tools.items():
            op = tool.get("operation") if isinstance(tool, Mapping) else None
            if isinstance(op, str) and op.strip().lower() not in RETIRED_OPERATIONS:
                try:
                    check_operation(op, declared)
                except ValueError as e:
                    tloc = ("tools", name, "operation")
                    out.append(ConfigProblem(str(e), source, _line_for(lines, tloc), f"tools.{name}.operation"))
    return out


def _suggest(loc: tuple[Any, ...], data: Any) -> str:
    import difflib

    bad = str(loc[-1])
    model: type[BaseModel] = Config
    node = data
    for part in loc[:-1]:
        if isinstance(node, dict):
            node = node.get(part)
        if model is Config and part == "agents":
            model = AgentPolicyModel
            continue
        if model is Config and part == "tools":
            model = ToolModel
            continue
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if model is AgentPolicyModel and part == "arguments":
            model = ConstraintModel
            continue
        for cand in (
            AgentPolicyModel,
            ToolModel,
            RateLimitModel,
            AuditModel,
            JudgeModel,
            AnalyzerSettingsModel,
            ToolListsModel,
            SuppressionModel,
            OverrideModel,
        ):
            if ann is cand or (ann is not None and cand.__name__ in str(ann)):
                model = cand
                break
    close = difflib.get_close_matches(bad, list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load and validate agentgate.yaml (parsed once); raises ConfigError listing every problem.

    A policy store URL (``postgresql://...``, ``file://...``) loads the store's head once
    (following it is `protect_all`'s job; see docs/policy.md, "Policy store").
    """
    if isinstance(path, str) and path.startswith(("postgresql://", "postgres://", "file://")):
        from .._errors import PolicyStoreError
        from .store import open_policy_store

        try:
            with open_policy_store(path) as store:
                return store.get().config()
        except PolicyStoreError as e:
            raise ConfigError([ConfigProblem(str(e), path)]) from None
    p = Path(path)
    src = str(p)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError([ConfigProblem("config file not found", src)]) from None
    except OSError as e:
        raise ConfigError([ConfigProblem(f"cannot read config file: {e.strerror}", src)]) from None
    text = decode_config(raw, src)
    data, lines = load_yaml_text(text, src)
    return parse_config(data, source=src, lines=lines)


# Seed-compatible register_tools vocabulary: action_type → (kind, operation).
_ACTION_TYPES: dict[str, tuple[str, str | None]] = {
    "database": ("sql", None),
    "sql": ("sql", None),
    "read": ("generic", "read"),
    "write": ("generic", "write"),
    "delete": ("generic", "delete"),
    "communication": ("email", "send"),
    "send": ("message", "send"),
    "config": ("config", "configure"),
    "configure": ("config", "configure"),
    "deploy": ("deploy", "configure"),
    "export": ("generic", "send"),
    "execute": ("shell", "execute"),
    "shell": ("shell", "execute"),
    "http": ("http", None),
    "network": ("http", None),
    "file": ("file", None),
    "filesystem": ("file", None),
    "payment": ("payment", "transfer"),
    "transfer": ("payment", "transfer"),
}


def tool_spec_from_dict(name: str, raw: Mapping[str, Any]) -> ToolSpec:
    """A ToolSpec from a ``tools:`` entry or a ``register_tools`` value (seed keys accepted).

    Seed form: ``{"action_type": "database", "resource_key": "query"}``.
    """
    data = dict(raw)
    if "action_type" in data or "resource_key" in data:
        at = str(data.pop("action_type", "")).lower()
        if at and at not in _ACTION_TYPES:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"unknown action_type {at!r}; expected one of {', '.join(sorted(_ACTION_TYPES))}",
                        key=f"tools.{name}.action_type",
                    )
                ]
            )
        kind, op = _ACTION_TYPES.get(at, ("generic", None))
        data.setdefault("kind", kind)
        if op and "operation" not in data:
            data["operation"] = op
        rk = data.pop("resource_key", None)
        if rk:
            data["resource_arg"] = rk
    try:
        return ToolModel.model_validate(data).to_spec()
    except ValidationError as e:
        raise ConfigError(
            [
                ConfigProblem(err["msg"], key=".".join(["tools", name, *(str(p) for p in err["loc"])]))
                for err in e.errors()
            ]
        ) from None
