"""The seed's one-line API: protect_all, guard, register_tools, flush, shutdown."""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import ModuleType
from typing import Any, TypeVar, overload

from . import _firewall as _firewall_mod
from ._call import ToolCall, ToolSpec, make_binder
from ._context import install_thread_propagation, uninstall_thread_propagation
from ._errors import ConfigError
from ._firewall import _SENTINEL, Firewall, get_firewall, set_firewall
from .policy._config import Config, load_config

__all__ = ["flush", "guard", "protect_all", "register_tools", "shutdown", "unprotect_all"]

logger = logging.getLogger("agentgate")

F = TypeVar("F", bound=Callable[..., Any])

_patched: list[str] = []
# Non-empty while protect_all() is in effect (until unprotect_all()): a later call without
# a config then keeps the default firewall's policy.
_loaded: list[bool] = []


def protect_all(
    config: str | os.PathLike[str] | Config | None = None,
    *,
    judge_model: str | None = None,
    judge_api_key: str | None = None,
    judge_base_url: str | None = None,
    rate_limit: int | Mapping[str, Any] | None = None,
    mode: str | None = None,
    on_escalate: str | None = None,
    on_judge_error: str | None = None,
    on_audit_failure: str | None = None,
    approver: Any = None,
    audit: Any = _SENTINEL,
    on_block: str = "raise",
    frameworks: list[str] | None = None,
    plan_model: str | None = None,
    plan_base_url: str | None = None,
    plan_api_key: str | None = None,
    shadow: Any = None,
    telemetry: Any = None,
) -> list[str]:
    """One line: load the policy, set up the default firewall, patch every installed framework.

    Args:
        config: agentgate.yaml (path or loaded `Config`); default ``AGENTGATE_CONFIG`` if set.
            A path that does not exist is an error, not a warning. A policy store URL
            (``postgresql://...``, ``file:///.../agentgate.yaml``) loads the store's head and
            follows it: each new revision replaces the policy between decisions
            (docs/policy.md, "Policy store").
        judge_model / judge_api_key / judge_base_url: the tier-2 judge (any OpenAI-compatible
            endpoint or Anthropic). With no model, key or URL there is no judge and
            ``on_escalate`` decides undecided calls (default: block); a model with neither a
            key nor a URL is a `ConfigError`.
        rate_limit: Max tool calls per agent per minute (or a mapping like ``rate_limit:``).
        mode: ``"enforce"`` (default) or ``"monitor"`` (never blocks; records would-blocks).
        on_escalate: ``"block"`` (default), ``"allow"``, or ``"ask"`` with *approver*.
        on_judge_error: ``"block"`` (default), ``"allow"`` or ``"ask"`` (the approver decides).
        on_audit_failure: ``"allow"`` (default) or ``"block"``: refuse actions while the audit
            trail cannot record them. At start the audit target and spool are checked: not
            writable is a warning, or an `AuditError` under ``"block"``.
        audit: Where decisions are recorded (URL, sink, list, ``"none"``); default from config,
            ``AGENTGATE_AUDIT_URL``, then ``.agentgate/audit.db``.
        on_block: ``"raise"`` (default): a blocked call raises FirewallBlockedError;
            ``"return_error"``: frameworks that allow it hand the model a tool error instead.
        frameworks: Only patch these (default: every installed one).
        plan_model / plan_base_url / plan_api_key: turn task plans on (docs/plans.md): each
            task gets one plan from this model, asked from the task text alone, and calls
            outside it escalate (``plan.outside``). URL and key default to the judge's. With
            no key or URL no plan can be made, so every non-read call escalates
            (``plan.unavailable``). The config's ``plans:`` does the same.
        shadow: A candidate policy (file or ``<store URL>#<revision>``) decided beside every
            call, never enforced; differences are recorded (docs/policy-testing.md).
        telemetry: report each decision as a span, metrics and a log line (docs/telemetry.md):
            ``True`` (metrics and logs), a mapping like the config's ``telemetry:``
            (``{"otel": True}``), or an `agentgate.telemetry.Telemetry`; default from config.

    A later call replaces the default firewall (audited as ``config.change`` and logged);
    without a config it keeps the policy in force. Threads and executor tasks started
    after this call run in the context (agent, scopes) they were started from.

    Returns:
        The frameworks protected: those already imported are patched now, the other
        installed ones the moment the application first imports them.
    """
    if config is None and os.environ.get("AGENTGATE_CONFIG"):
        config = os.environ["AGENTGATE_CONFIG"]
    from .policy import store as _store

    subscription = _store.current_subscription()
    if _store.is_store_url(config):
        subscription = _store.subscribe(str(config))  # the head, or the cached copy; raises if neither
        cfg: Config | None = subscription.config
    elif config is None and _loaded and subscription is not None:
        cfg = None  # a second protect_all() keeps following the store (below)
    else:
        subscription = None
        cfg = config if isinstance(config, Config) or config is None else load_config(config)
    current = _firewall_mod._default
    if cfg is None and _loaded and current is not None:
        # A second protect_all() without a config keeps the policy in force (the one the
        # first call loaded, or a later reconfigure()), not the permissive built-in default.
        cfg = current.config
    if on_block not in ("raise", "return_error"):
        raise ConfigError(f"on_block must be 'raise' or 'return_error', not {on_block!r}")
    judge = _build_judge(cfg, judge_model, judge_api_key, judge_base_url)
    planner = None
    if plan_model is not None or plan_base_url is not None:
        from ._plan import build_planner

        pc = cfg.plans if cfg is not None else None
        jc = cfg.judge if cfg is not None else None
        planner = build_planner(
            plan_model or (pc.model if pc else None),
            api_key=plan_api_key or judge_api_key,
            base_url=plan_base_url or judge_base_url or (pc.base_url if pc else None) or (jc.base_url if jc else None),
            tools=pc.tools if pc else (),
            on_violation=pc.on_violation if pc else "escalate",
        )
    fw = Firewall(
        cfg,
        judge=judge,
        on_escalate=on_escalate,
        on_judge_error=on_judge_error,
        on_audit_failure=on_audit_failure,
        approver=approver,
        mode=mode or os.environ.get("AGENTGATE_MODE") or None,
        audit=audit,
        rate_limit=rate_limit,
        planner=planner,
        shadow=shadow,
        telemetry=telemetry,
    )
    from .audit._gate import startup_check

    audit_line = startup_check(fw.auditor, strict=fw.on_audit_failure == "block")
    prev = set_firewall(fw)  # audits and logs what changed when it replaces a firewall
    # Settings given here outlive a policy change pushed to the store; the rest comes from the document.
    explicit = {
        "mode": mode or os.environ.get("AGENTGATE_MODE") or None,
        "on_escalate": on_escalate,
        "on_judge_error": on_judge_error,
        "on_audit_failure": on_audit_failure,
        "rate_limit": rate_limit,
    }
    from .policy.store._reload import activate

    activate(subscription, explicit)
    if prev is not None and prev is not fw:
        prev.flush(5.0)
    _loaded[:] = [True]
    patched = _install_integrations(on_block, frameworks)
    _patched[:] = patched
    # Tools run in worker threads (ThreadPoolExecutor, threading.Thread, run_in_executor)
    # must be decided under the scope they were started from.
    install_thread_propagation()
    logger.info(
        "AgentGate active (mode=%s, %s) — patched: %s",
        fw.mode,
        audit_line,
        ", ".join(patched) or "nothing; use @agentgate.guard",
    )
    return patched


def unprotect_all() -> None:
    """Undo every framework patch made by `protect_all`, and its thread-context propagation."""
    from .integrations import INTEGRATIONS
    from .integrations._on_import import cancel_all

    cancel_all()
    for name in INTEGRATIONS:
        mod = importlib.import_module(f"agentgate.integrations.{name}")
        mod.uninstall()
    _patched.clear()
    _loaded.clear()
    from .policy.store._reload import activate

    activate(None)  # stop following a policy store; the policy in force stays
    uninstall_thread_propagation()


def _build_judge(cfg: Config | None, model: str | None, api_key: str | None, base_url: str | None) -> Any:
    jc = cfg.judge if cfg is not None else None
    model = model or (jc.model if jc else None) or os.environ.get("AGENTGATE_JUDGE_MODEL")
    judge = _make_judge(jc, model, api_key, base_url)
    if judge is None and model:
        # Asked for a judge and got none: running on as "no judge" would quietly turn every
        # escalation into on_escalate. Say so at start instead.
        where = f"${jc.api_key_env}, " if jc is not None and jc.api_key_env else ""
        raise ConfigError(
            f"judge model {model!r} is configured but there is no API key for it "
            f"(judge_api_key=, {where}AGENTGATE_JUDGE_API_KEY, OPENAI_API_KEY / ANTHROPIC_API_KEY) "
            "and no judge_base_url; set one, or remove the judge model to run without a judge"
        )
    return judge


def _make_judge(jc: Any, model: str | None, api_key: str | None, base_url: str | None) -> Any:
    base_url = base_url or (jc.base_url if jc else None) or os.environ.get("AGENTGATE_JUDGE_BASE_URL")
    if api_key is None and jc is not None and jc.api_key_env:
        api_key = os.environ.get(jc.api_key_env)
    try:
        judge_mod = importlib.import_module("agentgate.judge")
    except ImportError:
        return None
    build = getattr(judge_mod, "build_judge", None)
    if build is None:
        return None
    kwargs: dict[str, Any] = {"api_key": api_key, "base_url": base_url}
    if jc is not None:
        if jc.provider:
            kwargs["provider"] = jc.provider
        if jc.timeout:
            kwargs["timeout"] = jc.timeout
        if jc.max_concurrency:
            kwargs["max_concurrency"] = jc.max_concurrency
        kwargs.update(jc.options)
    try:
        return build(model, **kwargs)
    except TypeError as e:
        # An unknown key under judge.options reaches build_judge as an unexpected keyword.
        raise ConfigError(f"judge.options: {e}") from None


# The top-level modules whose import means "this framework is in use".
_ROOT_MODULES: dict[str, tuple[str, ...]] = {
    "langchain": ("langchain_core",),
    "openai_agents": ("agents",),
    "crewai": ("crewai",),
    "autogen": ("autogen_core", "autogen"),
    "openai": ("openai",),
    "anthropic": ("anthropic",),
    "mcp": ("mcp",),
}


def _install_integrations(on_block: str, only: list[str] | None) -> list[str]:
    """Patch frameworks already imported now, and the others when they are first imported.

    Importing every installed framework up front made ``protect_all()`` take seconds; a
    post-import hook patches a framework before the application can touch it instead.
    """
    from .integrations import INTEGRATIONS
    from .integrations._on_import import when_imported

    protected: list[str] = []
    for name in INTEGRATIONS:
        mod = importlib.import_module(f"agentgate.integrations.{name}")
        if only is not None and mod.FRAMEWORK not in only:
            continue
        if not mod.available():
            continue
        roots = _ROOT_MODULES.get(name, ())
        if not roots or any(r in sys.modules for r in roots):
            # A framework that is installed but cannot be patched raises here: silently
            # running it unprotected would fail open.
            if mod.install(on_block=on_block):
                protected.append(mod.FRAMEWORK)
            continue

        def patch_now(_module: ModuleType, mod: ModuleType = mod) -> None:
            if not mod.installed():
                mod.install(on_block=on_block)

        for root in roots:
            when_imported(root, patch_now)
        protected.append(mod.FRAMEWORK)
    return protected


def register_tools(tools: Mapping[str, Mapping[str, Any] | ToolSpec]) -> None:
    """Declare what tools are, so classification does not rely on names.

    >>> register_tools({"execute_sql": {"kind": "sql", "resource_arg": "query"},
    ...                 "send_email": {"action_type": "communication", "resource_key": "to"}})

    Keys: ``kind``, ``operation``, ``resource_arg``/``resource_args``, ``content_args``,
    ``side_effect``, ``dialect`` — or the seed's ``action_type``/``resource_key``.
    """
    get_firewall().register_tools(tools)


def flush(timeout: float | None = None) -> bool:
    """Block until every decision so far is in the audit trail; True when drained."""
    return get_firewall().flush(timeout)


def shutdown(timeout: float | None = None) -> None:
    """Drain and close the default firewall's audit trail (also done at exit)."""
    get_firewall().shutdown(timeout)


# ---------------------------------------------------------------------- guard


@overload
def guard(func: F) -> F: ...
@overload
def guard(
    func: None = None,
    *,
    tool_name: str | None = None,
    kind: str | None = None,
    resource_arg: str | None = None,
    operation: str | None = None,
    firewall: Firewall | None = None,
) -> Callable[[F], F]: ...


def guard(
    func: F | None = None,
    *,
    tool_name: str | None = None,
    kind: str | None = None,
    resource_arg: str | None = None,
    operation: str | None = None,
    firewall: Firewall | None = None,
) -> F | Callable[[F], F]:
    """Guard a plain function as a tool: every call is decided before the body runs.

    >>> @guard
    ... def execute_sql(query: str) -> str:
    ...     return "ran"

    Works bare or with arguments, on sync and async functions, methods and
    generators (an async generator is decided before its first item). Arguments
    are bound by name, so positional and keyword calls are the same call.

    Args:
        tool_name: Name the policy sees (default: the function's name).
        kind: Declare the tool's kind (``sql``, ``file``, ``http``, ``shell``...).
        resource_arg: The argument naming the resource checked against scope.
        operation: Declare the operation (``read``, ``send``...).
        firewall: Use this firewall instead of the default one.
    """

    def decorate(fn: F) -> F:
        name: str = tool_name or getattr(fn, "__name__", None) or "tool"
        spec = None
        if kind or resource_arg or operation:
            spec = ToolSpec(kind or "generic", operation, (resource_arg,) if resource_arg else ())
        binder = make_binder(fn)
        params = list(inspect.signature(fn).parameters) if callable(fn) else []
        drop_first = bool(params) and params[0] in ("self", "cls")

        def make_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ToolCall:
            bound = binder(args, kwargs)
            if drop_first:
                bound.pop(params[0], None)
            return ToolCall(name, bound, "python", None, spec)

        def fw() -> Firewall:
            return firewall if firewall is not None else get_firewall()

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                await fw().acheck(make_call(args, kwargs))
                async for item in fn(*args, **kwargs):
                    yield item

            return agen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                await fw().acheck(make_call(args, kwargs))
                return await fn(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                # Decided at call time, like a plain function: the caller learns of a
                # block where it made the call, and the body never starts.
                fw().check(make_call(args, kwargs))
                return fn(*args, **kwargs)  # type: ignore[no-any-return]

            return gen_wrapper  # type: ignore[return-value]

        if not drop_first:

            @functools.wraps(fn)
            def plain_wrapper(*args: Any, **kwargs: Any) -> Any:
                # The common case, inlined: this wrapper is on the hot path of every guarded call.
                (firewall or get_firewall()).check(ToolCall._fast(name, binder(args, kwargs), spec))
                return fn(*args, **kwargs)

            return plain_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            fw().check(make_call(args, kwargs))
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    if func is not None:
        return decorate(func)
    return decorate
