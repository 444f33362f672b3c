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
    agents:
      default:
        allowed_operations: [read]
      reporting_agent:
        allowed_operations: [read, aggregate, write_report]
        allowed_resources: [sales_data, reports_output]
    tools:
      execute_sql: {kind: sql, resource_arg: query, dialect: postgres}
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .._call import KINDS, ToolSpec
from .._errors import ConfigError, ConfigProblem
from ._scope import ScopePolicy

__all__ = ["AgentPolicyModel", "Config", "ToolModel", "load_config", "parse_config", "tool_spec_from_dict"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentPolicyModel(_Strict):
    """One agent's policy (an entry under ``agents:``)."""

    task: str = Field("", description="What this agent is for (the judge reads it).")
    allowed_operations: list[str] = Field(default_factory=list, description="Operations allowed; empty = any.")
    allowed_resources: list[str] = Field(default_factory=list, description="Resource names/globs; empty = any.")
    deny_operations: list[str] = Field(default_factory=list, description="Operations always denied.")
    denied_resources: list[str] = Field(default_factory=list, description="Resources always denied.")
    max_rate: int | None = Field(None, ge=1, description="Max tool calls per minute for this agent.")

    def to_scope(self, name: str) -> ScopePolicy:
        """The frozen policy layer for evaluation."""
        return ScopePolicy(
            task=self.task,
            allowed_resources=tuple(self.allowed_resources),
            allowed_operations=tuple(self.allowed_operations),
            deny_operations=tuple(self.deny_operations),
            denied_resources=tuple(self.denied_resources),
            max_rate=self.max_rate,
            name=f"agent:{name}",
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

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, v: str) -> str:
        if v not in KINDS:
            raise ValueError(f"unknown kind {v!r}; expected one of {', '.join(sorted(KINDS))}")
        return v

    def to_spec(self) -> ToolSpec:
        """The frozen spec for evaluation."""
        ra = tuple(self.resource_args) + ((self.resource_arg,) if self.resource_arg else ())
        return ToolSpec(self.kind, self.operation, ra, tuple(self.content_args), self.side_effect, self.dialect)


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


class AnalyzerSettingsModel(_Strict):
    """``analyzers:`` — knobs of the tier-1 analyzers."""

    resolve_dns: bool = True
    dns_timeout: float = Field(1.0, gt=0)
    dns_cache_ttl: float = Field(60.0, ge=0)
    sql_dialect: str | None = None
    allow_private_networks: list[str] = Field(default_factory=list)
    sensitive_paths: list[str] = Field(default_factory=list)


class Config(_Strict):
    """The whole agentgate.yaml."""

    version: int = 1
    mode: Literal["enforce", "monitor"] = "enforce"
    on_escalate: Literal["block", "allow", "ask"] = "block"
    on_judge_error: Literal["block", "allow", "ask"] = "block"
    judge: JudgeModel | None = None
    audit: AuditModel | None = None
    rate_limit: RateLimitModel | None = None
    analyzers: AnalyzerSettingsModel = Field(default_factory=AnalyzerSettingsModel)  # type: ignore[arg-type]
    agents: dict[str, AgentPolicyModel] = Field(default_factory=dict)
    tools: dict[str, ToolModel] = Field(default_factory=dict)
    source: str | None = Field(None, exclude=True, description="File the config came from.")

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
        return data

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v != 1:
            raise ValueError("only version 1 is supported")
        return v

    def revision(self) -> str:
        """Short hash identifying this policy (recorded with every decision)."""
        blob = json.dumps(self.model_dump(mode="json", exclude={"source"}), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


# ------------------------------------------------------------------------ loading


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that remembers the line of every mapping key and sequence item."""


def _compose_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each key path to its 1-based line, from the YAML node tree."""
    lines: dict[tuple[str | int, ...], int] = {}
    try:
        root = yaml.compose(text, Loader=_LineLoader)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple[str | int, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value if isinstance(k, yaml.ScalarNode) else str(k)
                lines[(*path, key)] = k.start_mark.line + 1
                walk(v, (*path, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*path, i)] = item.start_mark.line + 1
                walk(item, (*path, i))

    if root is not None:
        lines[()] = root.start_mark.line + 1
        walk(root, ())
    return lines


def _line_for(lines: Mapping[tuple[str | int, ...], int], loc: tuple[str | int, ...]) -> int | None:
    # pydantic locs may carry validator tags; walk up until a known path.
    path = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-"))))
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def parse_config(data: Any, *, source: str | None = None, text: str | None = None) -> Config:
    """Validate already-loaded data (a dict) as a Config; errors carry lines when *text* is given."""
    lines = _compose_lines(text) if text is not None else {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([ConfigProblem("top level must be a mapping of settings", source, lines.get(()))])
    try:
        cfg = Config.model_validate(data)
    except ValidationError as e:
        problems = []
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
    return cfg.model_copy(update={"source": source})


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
        for cand in (AgentPolicyModel, ToolModel, RateLimitModel, AuditModel, JudgeModel, AnalyzerSettingsModel):
            if ann is cand or (ann is not None and cand.__name__ in str(ann)):
                model = cand
                break
    close = difflib.get_close_matches(bad, list(model.model_fields), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def load_config(path: str | os.PathLike[str]) -> Config:
    """Load and validate agentgate.yaml; raises ConfigError (missing file, bad YAML, every schema problem)."""
    p = Path(path)
    src = str(p)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem("config file not found", src)]) from None
    except OSError as e:
        raise ConfigError([ConfigProblem(f"cannot read config file: {e.strerror}", src)]) from None
    try:
        data = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([ConfigProblem(f"invalid YAML: {problem}", src, line)]) from None
    return parse_config(data, source=src, text=text)


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
    "deploy": ("deploy", "deploy"),
    "export": ("generic", "send"),
    "execute": ("shell", "execute"),
    "shell": ("shell", "execute"),
    "http": ("http", "network"),
    "network": ("http", "network"),
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
