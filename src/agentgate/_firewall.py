"""The Firewall: the decision pipeline, and the default instance behind the public API.

One call, end to end (see docs/architecture in ARCHITECTURE.md)::

    policy   = agent policy (agentgate.yaml) ∩ every active scope()     (narrowing only)
    classify = tool spec → name conventions → content sniffing
    tier 1   = analyzers → findings                                      (+ rate limiter)
    combine  = any BLOCK → BLOCK; else any ESCALATE → tier 2; else ALLOW (deny-overrides)
    tier 2   = judge / approver / on_escalate (default block)            (never a silent allow)

`evaluate` and `evaluate_async` share every step except tier 2, which the async
path awaits; both give the same verdict for the same call. The audit record is
enqueued on the caller in O(µs); writing happens off the hot path.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from types import FrameType, MappingProxyType, TracebackType
from typing import Any, cast

from . import _memo
from ._call import ToolCall, ToolSpec
from ._context import AgentContext, get_context
from ._context import _current as _current_agent
from ._decision import Effect, Finding, Severity, Verdict, VerdictType
from ._errors import ConfigError, FirewallBlockedError
from ._escalation import EscalationOutcome, EscalationRequest, Escalator
from ._memo import MemoEntry, Tier1Memo, canonical_arguments
from ._plan import Plan, Planner, build_planner, plan_findings
from .analyzers import DEFAULT_ANALYZERS, Analyzer
from .analyzers.arguments import analyze_arguments
from .analyzers.base import AnalyzerSettings, Context, budget_deadline
from .analyzers.classify import Classification, classify
from .analyzers.code import analyze_code
from .analyzers.code import pending_resolutions as code_resolutions
from .analyzers.config import analyze_config
from .analyzers.filesystem import analyze_files
from .analyzers.http import analyze_http, pending_resolutions, prefetch
from .analyzers.injection import analyze_injection
from .analyzers.provenance import ProvenanceSettings
from .analyzers.ratelimit import RateLimitAnalyzer, make_limiter
from .analyzers.secrets import analyze_secrets
from .analyzers.shell import analyze_shell
from .analyzers.sql import analyze_sql
from .policy import EffectivePolicy, ScopePolicy, make_scope
from .policy._config import Config, load_config, tool_spec_from_dict
from .policy._engine import HistoryEngine, apply_overrides
from .policy._history import HistoryStore, make_history_store
from .policy._operations import declare_operations, declared_version

__all__ = ["Firewall", "get_firewall", "reconfigure", "scope", "set_firewall"]

logger = logging.getLogger("agentgate")

_SENTINEL: Any = object()

# Active scope() layers, per thread / asyncio task. Shared by every Firewall:
# a scope states what the *code* may do, whichever firewall checks it.
_scopes: ContextVar[tuple[ScopePolicy, ...]] = ContextVar("agentgate_scopes", default=())

# Decision ids: UUID-shaped, unique per process (random prefix) and cheap (a counter),
# because uuid4() costs more than the rest of an allowed decision.
_ID_PREFIX = os.urandom(10).hex()
_ids = itertools.count(1)


_ID_HEAD = f"{_ID_PREFIX[:8]}-{_ID_PREFIX[8:12]}-4{_ID_PREFIX[13:16]}-{_ID_PREFIX[16:20]}-"


def _decision_id() -> str:
    return f"{_ID_HEAD}{next(_ids):012x}"


def _new_id_prefix() -> None:
    # A forked worker (gunicorn, multiprocessing) must not repeat its parent's ids.
    global _ID_PREFIX, _ID_HEAD, _ids
    _ID_PREFIX = os.urandom(10).hex()
    _ID_HEAD = f"{_ID_PREFIX[:8]}-{_ID_PREFIX[8:12]}-4{_ID_PREFIX[13:16]}-{_ID_PREFIX[16:20]}-"
    _ids = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_prefix)


_UNSCOPED = "context.unscoped"

# The analyzers whose findings depend only on the call, the policy and the settings (and on state
# outside the call, which they report with note_side_input) are reused for an identical call
# (agentgate._memo). The scope analyzer, provenance and user analyzers run on every call.
_STATIC_ANALYZERS: Mapping[Any, int] = {
    analyze_sql: _memo.STATIC,
    analyze_files: _memo.STATIC,
    analyze_http: _memo.STATIC,
    analyze_shell: _memo.STATIC,
    analyze_config: _memo.STATIC,
    analyze_code: _memo.STATIC,
    analyze_secrets: _memo.STATIC,
    analyze_injection: _memo.STATIC,
    analyze_arguments: _memo.ARGUMENTS,
}


class Firewall:
    """Decides tool calls. Also available as ``PolicyEngine`` (the seed's name).

    Args:
        config: A `Config`, a path to agentgate.yaml, or None.
        analyzers: The tier-1 chain (default `DEFAULT_ANALYZERS`).
        judge: A tier-2 judge (see ``agentgate.judge``); None → ``on_escalate`` decides.
        on_escalate: ``"block"`` (default), ``"allow"`` or ``"ask"`` (with *approver*).
        on_judge_error: ``"block"`` (default), ``"allow"`` or ``"ask"`` when the judge fails.
        on_audit_failure: ``"allow"`` (default) or ``"block"``: block actions while the audit
            trail cannot record them (see docs/audit.md).
        approver: Who answers ``on_escalate="ask"``.
        mode: ``"enforce"`` (blocks raise) or ``"monitor"`` (never raises; records would-blocks).
        audit: Where to record decisions: a URL, a sink, a list, ``"none"``; default from
            config, then ``AGENTGATE_AUDIT_URL``, then ``.agentgate/audit.db``.
        rate_limit: Max calls per agent per window (int), or a mapping like the config's
            ``rate_limit:``; None keeps the config's (default: no firewall-wide limit).
        settings: Analyzer settings (DNS resolution, SQL dialect, ...).
        planner: Makes and enforces one plan per task (docs/plans.md); default from the
            config's ``plans:``, else none.
        shadow: A candidate policy (path, `Config`, ``<store URL>#<revision>`` or a
            `ShadowPolicy`) decided beside every live call and never enforced; differences go
            to the audit record (docs/policy-testing.md). Default: the config's ``shadow:``.
        telemetry: Reports each final decision (`agentgate.telemetry.Telemetry`, ``True`` or
            a mapping like the config's ``telemetry:``); default from the config, else none.
    """

    def __init__(
        self,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        analyzers: Sequence[Analyzer] | None = None,
        judge: Any = None,
        on_escalate: str | None = None,
        on_judge_error: str | None = None,
        on_audit_failure: str | None = None,
        approver: Any = None,
        mode: str | None = None,
        audit: Any = _SENTINEL,
        rate_limit: int | Mapping[str, Any] | None = None,
        settings: AnalyzerSettings | None = None,
        planner: Planner | None = None,
        shadow: Any = None,
        telemetry: Any = None,
    ) -> None:
        if config is not None and not isinstance(config, Config):
            config = load_config(config)
        # A private deep copy: the caller's Config object stays theirs to edit, and edits
        # to it can never change what this firewall enforces.
        cfg = config.model_copy(deep=True) if config is not None else Config.model_validate({})
        self._config: Config = cfg
        self._mode: str = mode or cfg.mode
        if self._mode not in ("enforce", "monitor"):
            raise ConfigError(f"mode must be 'enforce' or 'monitor', not {self._mode!r}")
        self.analyzers: tuple[Analyzer, ...] = tuple(analyzers) if analyzers is not None else DEFAULT_ANALYZERS
        self.settings = settings or _settings_from_config(cfg)
        if cfg.operations:
            declare_operations(cfg.operations)  # so scope() in code and tool-name reading know them
        self._agent_layers: Mapping[str, ScopePolicy] = MappingProxyType(cfg.agent_layers())
        # A policy that lists agents but no default refuses the others: a typo in agent_id
        # must not run unrestricted.
        self._unlisted: ScopePolicy | None = None
        if cfg.agents and "default" not in cfg.agents:
            listed = ", ".join(sorted(cfg.agents))
            self._unlisted = ScopePolicy(
                name="agents",
                refuse=f"this agent id is not listed under agents: ({listed}) and the policy has no agents.default",
            )
        self._bases: dict[tuple[str, ...], tuple[ScopePolicy, ...]] = {}
        self._hatches = {name: cfg.suppressions(name) for name in cfg.agents}
        self._hatches[""] = cfg.suppressions(None)
        self._has_hatches = any(s or o for s, o in self._hatches.values())
        self._history = HistoryEngine(_history_store(cfg, rate_limit))
        self._specs: dict[str, ToolSpec] = {name: t.to_spec() for name, t in cfg.tools.items()}
        self._specs_lock = threading.Lock()
        self._revision = cfg.revision()
        # What each analyzer of the chain is to the memo (0: runs on every call).
        self._memo_kinds: tuple[int, ...] = tuple(_STATIC_ANALYZERS.get(a, 0) for a in self.analyzers)
        self._tier1_memo: Tier1Memo | None = Tier1Memo() if _memo.enabled(self.settings) else None
        self._policies: dict[
            tuple[int, int], tuple[tuple[ScopePolicy, ...], tuple[ScopePolicy, ...], EffectivePolicy]
        ] = {}
        self._rate = _rate_analyzer(cfg, rate_limit)
        self._planner: Planner | None = planner if planner is not None else _planner_from_config(cfg)
        escalate_kwargs: dict[str, Any] = {"judge": judge, "on_escalate": on_escalate or cfg.on_escalate}
        if on_judge_error is not None or cfg.on_judge_error != "block":
            escalate_kwargs["on_judge_error"] = on_judge_error or cfg.on_judge_error
        if approver is None and cfg.approver is not None:
            from .approvals import build_approver

            approver = build_approver(cfg.approver, _first_audit_url(cfg))
        if approver is not None:
            escalate_kwargs["approver"] = approver
        self.escalator = Escalator(**escalate_kwargs)
        self.auditor: Any = None
        if audit is _SENTINEL:
            audit = cfg.audit.url if cfg.audit is not None else None
            self.auditor = _open_auditor(audit, cfg, default=True)
        else:
            self.auditor = _open_auditor(audit, cfg, default=False)
        self.on_audit_failure: str = on_audit_failure or cfg.on_audit_failure
        if self.on_audit_failure not in ("allow", "block"):
            raise ConfigError(f"on_audit_failure must be 'allow' or 'block', not {self.on_audit_failure!r}")
        self._shadow: Any = _shadow_policy(shadow, cfg)
        self._telemetry: Any = None
        if telemetry is not None or cfg.telemetry is not None:
            from .telemetry import build_telemetry

            self._telemetry = build_telemetry(telemetry if telemetry is not None else cfg.telemetry)
            if self._telemetry is not None:
                self._telemetry.attach(self)
        self._sealed = True

    # An in-process code interpreter must not be able to switch the firewall off
    # (``get_firewall().mode = "monitor"``): after construction nothing is reassigned.
    # Changes go through `agentgate.reconfigure`, which builds a new firewall and audits it.
    # (Python cannot stop code that reaches for object.__setattr__ or gc; that is why
    # code-interpreter tools are analyzed before they run.)
    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_sealed", False):
            raise AttributeError(
                f"a Firewall is immutable after construction (tried to set {name!r}); "
                "use agentgate.reconfigure(...) to switch mode or policy (audited)"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a Firewall is immutable after construction (tried to delete {name!r})")

    @property
    def mode(self) -> str:
        """``enforce`` or ``monitor``, fixed at construction (see `agentgate.reconfigure`)."""
        return self._mode

    @property
    def config(self) -> Config:
        """A copy of the configuration in force; editing it changes nothing (use `agentgate.reconfigure`)."""
        return self._config.model_copy(deep=True)

    @property
    def policy(self) -> Mapping[str, ScopePolicy]:
        """The agent policies in force, by agent name (read-only; the layers are frozen)."""
        return self._agent_layers

    # ----------------------------------------------------------------- policy

    @property
    def policy_revision(self) -> str:
        """Hash of the configuration in force (recorded with every decision)."""
        return self._revision

    @property
    def shadow(self) -> Any:
        """The shadow policy (`agentgate.policy.preview.ShadowPolicy`: ``.stats()``), or None."""
        return self._shadow

    @property
    def judge(self) -> Any:
        """The tier-2 judge, or None."""
        return self.escalator.judge

    def register_tools(self, tools: Mapping[str, Mapping[str, Any] | ToolSpec]) -> None:
        """Declare tools: ``{"execute_sql": {"kind": "sql", "resource_arg": "query"}}``.

        Accepts the ``tools:`` keys of agentgate.yaml and the seed's
        ``{"action_type": ..., "resource_key": ...}``. Declarations beat name heuristics.
        """
        new = {
            name: spec if isinstance(spec, ToolSpec) else tool_spec_from_dict(name, spec)
            for name, spec in tools.items()
        }
        with self._specs_lock:
            before = self._revision
            specs = dict(self._specs)
            specs.update(new)
            # Swap, so readers never see a half-updated dict. Declaring tools is the one
            # in-place change a firewall accepts (it is how applications describe their tools
            # after protect_all()); since a declaration changes how calls are read, it is audited.
            object.__setattr__(self, "_specs", specs)
            object.__setattr__(self, "_revision", _combine_revision(self._config.revision(), specs))
            after = self._revision
            if self._tier1_memo is not None:  # a declaration changes how calls are read
                self._tier1_memo.clear()
        if after != before:
            caller = _caller()
            declared = {name: f"kind={sp.kind} operation={sp.operation}" for name, sp in new.items()}
            _record_change(
                (self.auditor,),
                "agentgate.register_tools",
                {"caller": caller, "tools": declared, "previous_policy_revision": before, "policy_revision": after},
                f"tools declared by {caller}: {', '.join(sorted(declared))} (policy {before} -> {after})",
                Severity.MEDIUM,
                self,
            )

    def spec_for(self, tool_name: str) -> ToolSpec | None:
        """The registered spec of *tool_name*, if any."""
        return self._specs.get(tool_name)

    def policy_for(self, agent: AgentContext) -> EffectivePolicy:
        """The effective policy for *agent* in the current context.

        Layers, outermost first: the policy of every agent in the delegation lineage
        (a sub-agent entered inside another agent's context keeps its parent's policy),
        then every active ``scope()``. Unlisted ids use ``agents.default``, or are
        refused when the policy lists agents but has no default.
        """
        lineage = (agent.agent_id,) if agent.parent is None else agent.lineage()
        bases = self._bases.get(lineage)
        if bases is None:
            bases = self._base_layers(lineage)
        scopes = _scopes.get()
        # Reuse the EffectivePolicy (and its memo) while the same layers are in force.
        # Keyed by identity; the entry keeps the tuples alive so an id is never reused under them.
        key = (id(bases), id(scopes))
        hit = self._policies.get(key)
        if hit is not None and hit[0] is scopes and hit[1] is bases:
            return hit[2]
        pol = EffectivePolicy((*bases, *scopes))
        if len(self._policies) > 1024:
            self._policies.clear()
        self._policies[key] = (scopes, bases, pol)
        return pol

    def _base_layers(self, lineage: tuple[str, ...]) -> tuple[ScopePolicy, ...]:
        out: list[ScopePolicy] = []
        for aid in lineage or ("",):
            lay = self._agent_layers.get(aid) if aid else None
            if lay is None:
                lay = self._agent_layers.get("default") or self._unlisted
            if lay is not None and lay not in out:
                out.append(lay)
        bases = tuple(out)
        if len(self._bases) > 1024:
            self._bases.clear()
        self._bases[lineage] = bases
        return bases

    # --------------------------------------------------------------- decision

    def _context(self, call: ToolCall, agent: AgentContext) -> Context:
        return self._prepare(call, agent)[0]

    def _prepare(self, call: ToolCall, agent: AgentContext) -> tuple[Context, MemoEntry | None, tuple[Any, ...] | None]:
        """The call's context, and its memo entry (a hit) or the key to store one under (a miss)."""
        policy = self.policy_for(agent)
        key: tuple[Any, ...] | None = None
        memo = self._tier1_memo
        if memo is not None:
            canon = canonical_arguments(call.arguments)
            if canon is not None:
                # By the layers' values: a scope entered again with the same arguments (one per
                # request) reads calls as the last one did. Layers hash once (ScopePolicy.__hash__).
                key = (policy.layers, call.tool_name, call.spec, canon)
                try:
                    e = memo.get(key)
                except TypeError:  # a layer or spec holding something unhashable: no memo
                    e = key = None
                if e is not None and e.ops_version == declared_version():
                    ctx = Context(call, agent, policy, e.classification, self.settings, self._specs.get, self.analyzers)
                    ctx.scratch["args_key"] = canon
                    if e.sql is not None:
                        ctx.scratch["sql"] = dict(e.sql)
                    return ctx, e, None
        deadline = budget_deadline(call, self.settings)
        specs = self._specs
        cls = classify(call, specs.get(call.tool_name) if call.spec is None else None)
        ctx = Context(
            call, agent, policy, cls, self.settings, spec_for=specs.get, chain=self.analyzers, deadline=deadline
        )
        if key is not None:
            # The exact form of the arguments: analyzers that run on every call may memoize their
            # argument-only work under it (provenance's targets).
            ctx.scratch["args_key"] = key[3]
        # A call with a budget is large: its analysis is not stored (and may be cut short).
        return ctx, None, key if deadline is None else None

    def _tier1(
        self,
        call: ToolCall,
        agent: AgentContext,
        ctx: Context | None = None,
        dry: bool = False,
        entry: MemoEntry | None = None,
        key: tuple[Any, ...] | None = None,
    ) -> tuple[Context, list[Finding]]:
        if ctx is None:
            ctx, entry, key = self._prepare(call, agent)
        if entry is not None:
            findings = _memo.analyze_hit(self.analyzers, entry, call, ctx)
        elif key is not None and self._tier1_memo is not None:
            findings = _memo.analyze_and_store(self._tier1_memo, key, self.analyzers, self._memo_kinds, call, ctx)
        else:
            findings = _memo.analyze(self.analyzers, call, ctx)[0]
        if self._rate is not None:
            findings.extend(self._rate(call, ctx))
        if _open_scopes and not ctx.policy.layers:
            findings.append(_unscoped_finding(_open_scopes))
        if self._planner is not None or ctx.policy.plan is not None:
            findings.extend(self._plan_findings(ctx, agent))
        if self._has_hatches:
            findings = self._apply_hatches(call, agent, ctx, findings)
        if ctx.policy.has_history:
            extra, pending = self._history.check(ctx, findings)
            findings.extend(extra)
            if dry:
                self._history.settle(pending, allowed=False)
            else:
                ctx.scratch["history"] = pending
        return ctx, findings

    @property
    def planner(self) -> Planner | None:
        """The task planner (``plans:`` / ``protect_all(plan_model=...)``), or None."""
        return self._planner

    def _plan_findings(self, ctx: Context, agent: AgentContext) -> list[Finding]:
        explicit = ctx.policy.plan
        if explicit is not None:
            return plan_findings(ctx, explicit)
        planner = cast(Planner, self._planner)
        task = agent.task_description.strip()
        found = ctx.scratch.get("plan") or (planner.get(task) if task else "no task to plan from")
        return plan_findings(ctx, found, Effect.BLOCK if planner.on_violation == "block" else Effect.ESCALATE)

    def _apply_hatches(
        self, call: ToolCall, agent: AgentContext, ctx: Context, findings: list[Finding]
    ) -> list[Finding]:
        sups, ovs = self._hatches.get(agent.agent_id) or self._hatches[""]
        if not (sups or ovs) or not findings:
            return findings
        resources = [(r.value, r.kind) for r in ctx.classification.resources if r.kind != "sql"]
        for a in (ctx.scratch.get("sql") or {}).values():
            resources.extend((t, "table") for t in (*a.tables_written, *a.tables_read))
        findings, sup, ov = apply_overrides(findings, call.tool_name, resources, sups, ovs)
        if sup or ov:
            ctx.scratch["hatches"] = {k: v for k, v in (("suppressed", sup), ("overridden", ov)) if v}
        return findings

    def evaluate_tier1(self, call: ToolCall) -> Verdict:
        """Tier 1 only: may return ESCALATE. Not audited; for tooling (eval, ``check --tier1``)."""
        t0 = time.perf_counter_ns()
        agent = get_context()
        _, findings = self._tier1(call, agent, dry=True)
        block, esc = _split(findings)
        if block:
            return self._verdict(call, VerdictType.BLOCK, findings, block, t0, agent, record=False)
        if esc:
            top = max(esc, key=_rank)
            return Verdict(
                VerdictType.ESCALATE,
                1,
                top.rule_id,
                _max_sev(findings),
                _reason(esc),
                findings=tuple(findings),
                decision_id=_decision_id(),
                latency_us=(time.perf_counter_ns() - t0) / 1000,
                policy_revision=self._revision,
                mode=self._mode,
            )
        return self._verdict(call, VerdictType.ALLOW, findings, [], t0, agent, record=False)

    def evaluate(self, call: ToolCall) -> Verdict:
        """Decide *call* (sync). Returns ALLOW or BLOCK; never raises for a block."""
        t0 = time.perf_counter_ns()
        agent = get_context()
        ctx, findings = self._tier1(call, agent)
        block, esc = _split(findings)
        scratch = ctx.scratch if ("history" in ctx.scratch or "hatches" in ctx.scratch) else None
        if block:
            return self._verdict(call, VerdictType.BLOCK, findings, block, t0, agent, scratch=scratch)
        if esc:
            outcome = self._resolve(self.escalator.resolve, ctx, findings)
            return self._escalated(call, outcome, findings, t0, agent, scratch)
        return self._verdict(call, VerdictType.ALLOW, findings, (), t0, agent, scratch=scratch)

    async def evaluate_async(self, call: ToolCall) -> Verdict:
        """Decide *call* (async): the same decisions as `evaluate`; tier 2 is awaited."""
        t0 = time.perf_counter_ns()
        agent = get_context()
        ctx, entry, key = self._prepare(call, agent)
        if self._planner is not None and ctx.policy.plan is None and agent.task_description.strip():
            ctx.scratch["plan"] = await self._planner.aget(agent.task_description.strip())
        names: list[str] = []
        if entry is None:  # a stored analysis asked no DNS (one that did is never stored)
            names = pending_resolutions(ctx) if analyze_http in self.analyzers else []
            if analyze_code in self.analyzers:  # hosts inside programs handed to interpreter tools
                names = [*names, *(n for n in code_resolutions(ctx) if n not in names)]
        if names:
            # The HTTP analyzer resolves synchronously; do it in a worker thread so a
            # slow DNS answer never stalls the event loop. The analyzer then hits the cache.
            await asyncio.to_thread(prefetch, names, self.settings)
        ctx, findings = self._tier1(call, agent, ctx, entry=entry, key=key)
        block, esc = _split(findings)
        scratch = ctx.scratch if ("history" in ctx.scratch or "hatches" in ctx.scratch) else None
        if block:
            return self._verdict(call, VerdictType.BLOCK, findings, block, t0, agent, scratch=scratch)
        if esc:
            req = self._request(ctx, findings)
            try:
                outcome = await self.escalator.aresolve(req)
            except Exception as e:
                outcome = _escalation_failed(e)
            return self._escalated(call, outcome, findings, t0, agent, scratch)
        return self._verdict(call, VerdictType.ALLOW, findings, (), t0, agent, scratch=scratch)

    def check(self, call: ToolCall) -> Verdict:
        """`evaluate`, raising `FirewallBlockedError` on BLOCK in enforce mode."""
        v = self.evaluate(call)
        if v.action is VerdictType.BLOCK:
            raise FirewallBlockedError(v, call)
        return v

    async def acheck(self, call: ToolCall) -> Verdict:
        """`evaluate_async`, raising `FirewallBlockedError` on BLOCK in enforce mode."""
        v = await self.evaluate_async(call)
        if v.action is VerdictType.BLOCK:
            raise FirewallBlockedError(v, call)
        return v

    # ---------------------------------------------------------------- helpers

    def _request(self, ctx: Context, findings: list[Finding]) -> EscalationRequest:
        cls: Classification = ctx.classification
        return EscalationRequest(
            ctx.call, ctx.agent, ctx.policy, tuple(findings), cls.operation, cls.kind, self._revision
        )

    def _resolve(self, fn: Any, ctx: Context, findings: list[Finding]) -> EscalationOutcome:
        try:
            out: EscalationOutcome = fn(self._request(ctx, findings))
        except Exception as e:
            return _escalation_failed(e)
        return out

    def _escalated(
        self,
        call: ToolCall,
        o: EscalationOutcome,
        findings: list[Finding],
        t0: int,
        agent: AgentContext,
        scratch: dict[str, Any] | None = None,
    ) -> Verdict:
        action = VerdictType.BLOCK if o.action is not VerdictType.ALLOW else VerdictType.ALLOW
        return self._finish(
            call,
            Verdict(
                action,
                o.tier_used,
                o.policy_name,
                _max_sev(findings),
                o.reasoning,
                o.confidence,
                o.reversible,
                tuple(findings),
                _decision_id(),
                0.0,
                self._revision,
                self._mode,
                False,
                o.judge_model,
                o.judge_latency_ms,
                o.blast_radius,
                dict(o.extra),
            ),
            t0,
            agent,
            scratch,
        )

    def _verdict(
        self,
        call: ToolCall,
        action: VerdictType,
        findings: list[Finding],
        deciding: Sequence[Finding],
        t0: int,
        agent: AgentContext,
        record: bool = True,
        scratch: dict[str, Any] | None = None,
    ) -> Verdict:
        if deciding:
            top = max(deciding, key=_rank)
            name, reason = top.rule_id, _reason(deciding)
        else:
            name, reason = "", "no rule matched" if not findings else "only informational findings"
        # Positional: this runs for every decision, and keyword binding costs measurably more.
        v = Verdict._fast(
            action, 1, name, _max_sev(findings), reason, 1.0, True, tuple(findings), _decision_id(), 0.0,
            self._revision, self._mode, False, None, None, None, {},
        )  # fmt: skip
        if not record:
            return _with_latency(v, t0, self._mode)
        return self._finish(call, v, t0, agent, scratch)

    def _finish(
        self, call: ToolCall, v: Verdict, t0: int, agent: AgentContext, scratch: dict[str, Any] | None = None
    ) -> Verdict:
        v = _with_latency(v, t0, self._mode)
        if self.on_audit_failure == "block":
            from .audit._gate import refuse_unrecorded  # lazily: only deployments that opted in pay for it

            v = refuse_unrecorded(v, self.auditor)
        if scratch is not None:
            hatches = scratch.get("hatches")
            if hatches:
                v.extra.update(hatches)  # a fresh dict per verdict; recorded in the audit trail below
            pending = scratch.get("history")
            if pending is not None:
                self._history.settle(pending, allowed=v.action is VerdictType.ALLOW)
        if self._shadow is not None:  # after the live verdict is fixed; before history moves on
            diff = self._shadow.compare(call, v)
            if diff is not None:
                v.extra["shadow"] = diff
        agent.record_action(call.tool_name, dict(call.arguments), v.action.value, v.decision_id)
        if self.auditor is not None:
            try:
                self.auditor.record(call, v, agent)
            except Exception:  # the audit must never crash the host; the writer counts its own failures
                logger.exception("agentgate audit enqueue failed")
        if self._telemetry is not None:
            self._telemetry.decided(call, v, agent)  # never raises (agentgate.telemetry)
        return v

    # -------------------------------------------------------------- lifecycle

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every decision so far is stored. True when drained."""
        if self.auditor is None:
            return True
        return bool(self.auditor.flush(timeout))

    def shutdown(self, timeout: float | None = None) -> None:
        """Drain and close the audit trail."""
        if self.auditor is not None:
            self.auditor.shutdown(timeout)

    def __enter__(self) -> Firewall:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.shutdown()


# ------------------------------------------------------------------- helpers


def _with_latency(v: Verdict, t0: int, mode: str) -> Verdict:
    lat = (time.perf_counter_ns() - t0) / 1000
    if mode == "monitor" and v.action is VerdictType.BLOCK:
        # Monitor mode: the call proceeds; the record says what enforce would have done.
        return Verdict(
            VerdictType.ALLOW,
            v.tier_used,
            v.policy_name,
            v.severity,
            f"monitor mode, would block: {v.reasoning}",
            v.confidence,
            v.reversible,
            v.findings,
            v.decision_id,
            lat,
            v.policy_revision,
            mode,
            True,
            v.judge_model,
            v.judge_latency_ms,
            v.blast_radius,
            v.extra,
        )
    object.__setattr__(v, "latency_us", lat)  # frozen for users; set once here before anyone sees it
    return v


def _split(findings: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    if not findings:
        return [], []
    block = [f for f in findings if f.effect is Effect.BLOCK]
    esc = [f for f in findings if f.effect is Effect.ESCALATE]
    return block, esc


def _rank(f: Finding) -> int:
    return f.severity.rank


def _max_sev(findings: Sequence[Finding]) -> Severity:
    sev = Severity.LOW
    for f in findings:
        if f.effect is not Effect.INFO and f.severity > sev:
            sev = f.severity
    return sev


def _reason(deciding: Sequence[Finding]) -> str:
    ordered = sorted(deciding, key=_rank, reverse=True)
    head = ordered[0].message
    if len(ordered) > 1:
        head += f" (+{len(ordered) - 1} more: {', '.join(sorted({f.rule_id for f in ordered[1:]}))})"
    return head


def _unscoped_finding(n: int) -> Finding:
    return Finding(
        _UNSCOPED,
        Severity.MEDIUM,
        Effect.ESCALATE,
        f"call arrived with no scope and no agent policy while {n} scope(s) are open in this process "
        "(a thread or pool the context did not reach?); run it inside the scope (agentgate.propagate) "
        "or give agents a default policy (agents: default:)",
    )


def _escalation_failed(e: BaseException) -> EscalationOutcome:
    logger.exception("agentgate escalation failed", exc_info=e)
    return EscalationOutcome(
        VerdictType.BLOCK,
        f"escalation failed ({type(e).__name__}: {e}); blocked (fail closed)",
        "escalation.error",
        tier_used=2,
    )


def _settings_from_config(cfg: Config) -> AnalyzerSettings:
    a = cfg.analyzers
    return AnalyzerSettings(
        resolve_dns=a.resolve_dns,
        dns_timeout=a.dns_timeout,
        dns_cache_ttl=a.dns_cache_ttl,
        sql_dialect=a.sql_dialect,
        allow_private_networks=tuple(a.allow_private_networks),
        sensitive_paths=tuple(a.sensitive_paths),
        time_budget_ms=a.time_budget_ms,
        extra={"provenance": _provenance_settings(cfg)},
    )


def _provenance_settings(cfg: Config) -> ProvenanceSettings:
    def trusted(t: Any) -> bool | None:
        return True if t.output == "trusted" or t.trusted else (False if t.output == "untrusted" else None)

    return ProvenanceSettings(
        actions=cfg.provenance.model_dump(),
        trusted_tools=frozenset(n for n, t in cfg.tools.items() if trusted(t) is True),
        untrusted_tools=frozenset(n for n, t in cfg.tools.items() if trusted(t) is False),
    )


def _planner_from_config(cfg: Config) -> Planner | None:
    pc = cfg.plans
    if pc is None:
        return None
    key = os.environ.get(pc.api_key_env) if pc.api_key_env else None
    return build_planner(
        pc.model,
        api_key=key,
        base_url=pc.base_url,
        provider=pc.provider,
        timeout=pc.timeout,
        tools=pc.tools,
        on_violation=pc.on_violation,
    )


def _shadow_policy(shadow: Any, cfg: Config) -> Any:
    """The ShadowPolicy for ``shadow=`` or the config's ``shadow:`` (relative to the config's file), or None."""
    if shadow is None and cfg.shadow is None:
        return None
    from .policy.preview import ShadowPolicy

    if isinstance(shadow, ShadowPolicy):
        return shadow
    if shadow is None:
        shadow = cfg.shadow
        if cfg.source and "://" not in shadow and not os.path.isabs(shadow.partition("#")[0]):
            shadow = os.path.join(os.path.dirname(cfg.source), shadow)
    return ShadowPolicy(shadow, settings=None)


def _rate_analyzer(cfg: Config, rate_limit: int | Mapping[str, Any] | None) -> RateLimitAnalyzer | None:
    rl = cfg.rate_limit
    max_calls: int | None = rl.max_calls if rl else None
    window = rl.window_seconds if rl else 60.0
    per_tool = rl.per_tool if rl else False
    backend = rl.backend if rl else "memory"
    if isinstance(rate_limit, Mapping):
        max_calls = int(rate_limit.get("max_calls", max_calls or 100))
        window = float(rate_limit.get("window_seconds", window))
        per_tool = bool(rate_limit.get("per_tool", per_tool))
        backend = str(rate_limit.get("backend", backend))
    elif isinstance(rate_limit, int) and not isinstance(rate_limit, bool):
        if rate_limit < 1:
            raise ConfigError(f"rate_limit must be a positive number of calls, not {rate_limit}")
        max_calls = rate_limit
    elif rate_limit is not None:
        raise ConfigError(f"rate_limit must be an int or a mapping, not {type(rate_limit).__name__}")
    # Scopes and agents may set max_rate even without a firewall-wide limit, so the
    # analyzer is always present; it only counts keys that have a budget.
    return RateLimitAnalyzer(make_limiter(backend), max_calls=max_calls, window_seconds=window, per_tool=per_tool)


def _history_store(cfg: Config, rate_limit: int | Mapping[str, Any] | None) -> HistoryStore:
    """History rules keep state where the rate limiter does (Redis shares it across processes)."""
    backend = cfg.history_backend
    if backend is None and isinstance(rate_limit, Mapping) and "backend" in rate_limit:
        backend = str(rate_limit["backend"])
    if backend is None and cfg.rate_limit is not None:
        backend = cfg.rate_limit.backend
    return make_history_store(backend)


def _first_audit_url(cfg: Config) -> str | None:
    url = cfg.audit.url if cfg.audit is not None else None
    if isinstance(url, list):
        return url[0] if url else None
    return url


def _combine_revision(base: str, specs: Mapping[str, ToolSpec]) -> str:
    import hashlib

    blob = base + "|" + "|".join(f"{k}={v!r}" for k, v in sorted(specs.items()))
    # The policy's own revision stays readable in front (a store revision names a stored document).
    return f"{base}+{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def _open_auditor(target: Any, cfg: Config, *, default: bool) -> Any:
    if target is None and not default:
        return None
    try:
        from . import audit
    except ImportError:  # pragma: no cover - the audit package ships with the core
        return None
    opener = getattr(audit, "open_auditor", None)
    if opener is None:
        return None
    kwargs: dict[str, Any] = {}
    if cfg.audit is not None:
        kwargs["redact_fields"] = tuple(cfg.audit.redact_fields)
        kwargs["on_full"] = cfg.audit.on_full
    return opener(target, **kwargs)


# ----------------------------------------------------------- default instance

_default: Firewall | None = None
_default_lock = threading.Lock()


def get_firewall() -> Firewall:
    """The default firewall (created on first use from ``AGENTGATE_CONFIG`` if set)."""
    fw = _default
    if fw is None:
        with _default_lock:
            fw = _default
            if fw is None:
                path = os.environ.get("AGENTGATE_CONFIG")
                if path and path.startswith(("postgresql://", "postgres://", "file://")):
                    from .policy.store._reload import activate, subscribe

                    sub = subscribe(path)  # a policy store: follow its head (docs/policy.md)
                    fw = Firewall(sub.config, mode=os.environ.get("AGENTGATE_MODE") or None)
                    _set_default(fw)
                    activate(sub, {"mode": os.environ.get("AGENTGATE_MODE") or None})
                    return fw
                fw = Firewall(path, mode=os.environ.get("AGENTGATE_MODE") or None)
                _set_default(fw)
    return fw


def set_firewall(fw: Firewall) -> Firewall | None:
    """Make *fw* the default (used by guard, scope, integrations); returns the previous one.

    Replacing a default firewall is a change of protection, so it is audited: a
    ``config.change`` record (what changed, which code asked, which agent context was
    active) is written to the trail of the firewall being replaced and to *fw*'s
    trail, and logged at WARNING when the mode changes or the policy loosens
    (INFO otherwise). `agentgate.reconfigure` is the way to change mode or policy.
    """
    if not isinstance(fw, Firewall):
        raise TypeError(f"set_firewall() takes a Firewall, not {type(fw).__name__}")
    with _default_lock:
        prev = _default
        _set_default(fw)
    if prev is not None and prev is not fw:
        _audit_replacement(prev, fw)
    return prev


_CHANGE_TOOL = "agentgate.set_firewall"


def _caller() -> str:
    """``module:function:line`` of the first frame outside AgentGate (who asked for the change)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        mod = frame.f_globals.get("__name__", "")
        if not (isinstance(mod, str) and (mod == "agentgate" or mod.startswith("agentgate."))):
            return f"{mod}:{frame.f_code.co_name}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


def _audit_replacement(prev: Firewall, new: Firewall) -> None:
    caller = _caller()
    changes = []
    if prev.mode != new.mode:
        changes.append(f"mode {prev.mode} -> {new.mode}")
    if prev.policy_revision != new.policy_revision:
        changes.append(f"policy {prev.policy_revision} -> {new.policy_revision}")
    if prev.judge is not new.judge:
        changes.append(f"judge {getattr(prev.judge, 'model', None)} -> {getattr(new.judge, 'model', None)}")
    what = ", ".join(changes) or "same mode and policy"
    reason = f"default firewall replaced by {caller}: {what}"
    level = logging.WARNING if prev.mode != new.mode or prev.policy_revision != new.policy_revision else logging.INFO
    logger.log(level, "agentgate: %s", reason)
    _record_change(
        (prev.auditor, new.auditor),
        _CHANGE_TOOL,
        {
            "caller": caller,
            "previous_mode": prev.mode,
            "mode": new.mode,
            "previous_policy_revision": prev.policy_revision,
            "policy_revision": new.policy_revision,
        },
        reason,
        Severity.HIGH if new.mode == "monitor" and prev.mode != "monitor" else Severity.MEDIUM,
        new,
    )


def _record_change(
    auditors: Sequence[Any], tool: str, arguments: dict[str, Any], reason: str, severity: Severity, fw: Firewall
) -> None:
    """Write one ``config.change`` record (who, what, when) to each distinct audit trail."""
    call = ToolCall(tool, {**arguments, "pid": os.getpid(), "thread": threading.current_thread().name}, "agentgate")
    verdict = Verdict(
        VerdictType.ALLOW,
        1,
        "config.change",
        severity,
        reason,
        decision_id=_decision_id(),
        policy_revision=fw.policy_revision,
        mode=fw.mode,
    )
    agent = get_context()
    for auditor in dict.fromkeys(a for a in auditors if a is not None):
        try:
            auditor.record(call, verdict, agent)
        except Exception:  # the audit must never crash the host; the writer counts its own failures
            logger.exception("agentgate: could not audit the firewall change")


def _derive(cur: Firewall, config: Config | str | os.PathLike[str] | None, mode: str | None) -> Firewall:
    """A new firewall like *cur* with another config and/or mode (same judge, analyzers, audit trail)."""
    if config is None:
        new = Firewall.__new__(Firewall)
        for name, value in vars(cur).items():
            object.__setattr__(new, name, value)
        object.__setattr__(new, "_sealed", False)
        new._policies = {}
        if mode is not None:
            if mode not in ("enforce", "monitor"):
                raise ConfigError(f"mode must be 'enforce' or 'monitor', not {mode!r}")
            new._mode = mode
        new._sealed = True
        return new
    esc = cur.escalator
    new = Firewall(
        config,
        analyzers=cur.analyzers,
        judge=esc.judge,
        approver=esc.approver,
        mode=mode,
        audit=cur.auditor if cur.auditor is not None else "none",
    )
    if new._planner is None and cur._planner is not None:
        object.__setattr__(new, "_planner", cur._planner)  # plans stay on unless the new config sets its own
    if new._telemetry is None and cur._telemetry is not None:
        object.__setattr__(new, "_telemetry", cur._telemetry)  # so does telemetry
        cur._telemetry.attach(new)
    carried = {k: v for k, v in cur._specs.items() if k not in new._specs}
    if carried:
        new.register_tools(carried)
    return new


def reconfigure(config: Config | str | os.PathLike[str] | None = None, *, mode: str | None = None) -> Firewall:
    """Switch the default firewall's policy and/or mode: builds a new firewall, audits the change.

    A firewall is immutable after construction (``get_firewall().mode = "monitor"``
    raises), so that code running inside the agent's process cannot quietly switch
    protection off. This is the explicit way: the new firewall keeps the judge, the
    analyzers and the audit trail, and the change is recorded there (``config.change``:
    old and new mode and policy revision, the calling code, the agent context).

    >>> fw = reconfigure(mode="monitor")  # doctest: +SKIP

    Args:
        config: A new agentgate.yaml (path or `Config`); None keeps the current one.
        mode: ``"enforce"`` or ``"monitor"``; None keeps the current mode (or the new config's).
    """
    new = _derive(get_firewall(), config, mode)
    set_firewall(new)
    return new


def _set_default(fw: Firewall | None) -> None:
    global _default
    _default = fw


def _reset_default_for_tests() -> None:
    """Drop the default firewall (tests). Its audit trail is drained first."""
    global _default
    with _default_lock:
        prev, _default = _default, None
    _scopes.set(())
    if prev is not None:
        try:
            prev.shutdown(5.0)
        except Exception:
            logger.exception("agentgate: shutdown of the previous default firewall failed")


# ----------------------------------------------------------------------- scope


class scope:  # noqa: N801 - seed API: used like a function, ``with agentgate.scope(...)``
    """Declare what the code inside may do (``with`` or ``async with``).

    >>> with scope(task="monthly report", allowed_operations=["read"], allowed_resources=["sales_data"]):
    ...     pass

    The scope applies to the current thread / asyncio task only (and to threads and
    executor tasks started inside it once ``protect_all()`` ran, or through
    ``agentgate.propagate``), combines with the agent's policy and any enclosing scope
    by intersection (it can only narrow), and ends with the block. Each entry pushes
    a child `AgentContext` with the scope's task and its own history, popped on exit.
    ``agent_id``/``task_id``/``user_id`` also set the agent identity for the block,
    as in the seed. ``as`` gives the default firewall (the seed yielded its engine).
    ``tools``, ``arguments`` and ``history`` take the same rules as an agent in
    agentgate.yaml (docs/policy.md). ``plan`` (an `agentgate.Plan`) is enforced for the
    block: a call outside it escalates with ``plan.outside`` (docs/plans.md).
    """

    __slots__ = ("_identity", "_tokens", "policy")

    def __init__(
        self,
        task: str = "",
        allowed_resources: Sequence[str] | None = None,
        allowed_operations: Sequence[str] | None = None,
        deny_operations: Sequence[str] | None = None,
        max_rate: int | None = None,
        agent_id: str = "",
        task_id: str = "",
        user_id: str = "",
        *,
        denied_resources: Sequence[str] | None = None,
        name: str = "scope",
        tools: Mapping[str, Sequence[str]] | None = None,
        arguments: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None,
        history: Sequence[Mapping[str, Any]] | None = None,
        plan: Plan | None = None,
    ) -> None:
        if max_rate is not None and (not isinstance(max_rate, int) or max_rate < 1):
            raise ConfigError(f"max_rate must be a positive int, not {max_rate!r}")
        self.policy = make_scope(
            task=task,
            allowed_resources=allowed_resources,
            allowed_operations=allowed_operations,
            deny_operations=deny_operations,
            denied_resources=denied_resources,
            max_rate=max_rate,
            name=name,
            tools=tools,
            arguments=arguments,
            history=history,
        )
        if plan is not None:
            if not isinstance(plan, Plan):
                raise ConfigError(f"scope(plan=...) takes an agentgate.Plan, not {type(plan).__name__}")
            self.policy = dataclasses.replace(self.policy, plan=plan, task=task or plan.task)
        self._identity = {"agent_id": agent_id, "task_id": task_id, "user_id": user_id}
        self._tokens: list[tuple[AgentContext, AgentContext, Any, Any]] = []

    def __enter__(self) -> Firewall:
        # A child context per entry (own task, own history): the enclosing AgentContext may
        # be shared with other threads and tasks, so it is never written to.
        parent = get_context()
        child = parent.child(self.policy.task, **self._identity)
        self._tokens.append((parent, child, _use_agent(child), _scopes.set((*_scopes.get(), self.policy))))
        _scope_entered()
        # The seed yielded its engine. Hand out a lazy handle: entering a scope must not
        # create the default firewall (and its audit database) as a side effect.
        return cast(Firewall, _DefaultFirewallHandle())

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        parent, child, agent_token, scope_token = self._tokens.pop()
        _scope_exited()
        _scopes.reset(scope_token)
        _reset_agent(agent_token)
        parent.merge_child(child)

    async def __aenter__(self) -> Firewall:
        return self.__enter__()

    async def __aexit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(et, ev, tb)


class _DefaultFirewallHandle:
    """Stands for the default firewall; created only when an attribute is used."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(get_firewall(), name)

    def __repr__(self) -> str:
        return "<default AgentGate firewall>"


def _use_agent(ctx: AgentContext) -> Any:
    return _current_agent.set(ctx)


def _reset_agent(token: Any) -> None:
    _current_agent.reset(token)


# How many scope() blocks are open anywhere in the process. A call decided under no
# policy layer at all while this is non-zero most likely escaped its scope (a thread
# or pool the context did not reach): it escalates instead of running unrestricted.
# A plain int under a lock: entering a scope is rare next to deciding a call, and the
# decision path only reads it (an int read is atomic).
_open_scopes = 0
_open_scopes_lock = threading.Lock()


def _scope_entered() -> None:
    global _open_scopes
    with _open_scopes_lock:
        _open_scopes += 1


def _scope_exited() -> None:
    global _open_scopes
    with _open_scopes_lock:
        _open_scopes = max(0, _open_scopes - 1)


def open_scopes() -> int:
    """How many ``scope()`` blocks are open in this process (any thread or task)."""
    return _open_scopes


def active_scopes() -> tuple[ScopePolicy, ...]:
    """The scope layers active in the current context, outermost first."""
    return _scopes.get()
