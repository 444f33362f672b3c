"""Tier 2: the LLM judge and human approval.

``build_judge()`` makes a judge from a model name and credentials (any
OpenAI-compatible endpoint, or Anthropic), wrapped in a decision cache with
single-flight. The escalator (``agentgate._escalation``) asks it about every call
tier 1 escalated and turns its answer into ALLOW/BLOCK with `JudgeThresholds`;
when it fails, ``on_judge_error`` decides (default: block). See docs/judge.md.

>>> build_judge() is None   # no model, key or URL configured: no judge
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from agentgate._errors import ConfigError

from .anthropic import AnthropicJudge
from .approvers import ApprovalDecision, Approver, CallableApprover, ConsoleApprover, WebhookApprover, approval_payload
from .base import (
    ANSWER_JSON_SCHEMA,
    Judge,
    JudgeAnswer,
    JudgeResult,
    JudgeThresholds,
    LLMJudge,
    StaticJudge,
    decide,
    parse_answer,
)
from .cache import CachingJudge, cache_key
from .openai import OpenAIJudge, is_reasoning_model
from .prompt import JudgePrompt, build_prompt, reviewer_injection_markers

__all__ = [
    "ANSWER_JSON_SCHEMA",
    "DEFAULT_ANTHROPIC_MODEL",
    "DEFAULT_OPENAI_MODEL",
    "AnthropicJudge",
    "ApprovalDecision",
    "Approver",
    "CachingJudge",
    "CallableApprover",
    "ConsoleApprover",
    "Judge",
    "JudgeAnswer",
    "JudgePrompt",
    "JudgeResult",
    "JudgeThresholds",
    "LLMJudge",
    "OpenAIJudge",
    "StaticJudge",
    "WebhookApprover",
    "approval_payload",
    "build_judge",
    "build_prompt",
    "cache_key",
    "decide",
    "parse_answer",
    "reviewer_injection_markers",
]

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_ANTHROPIC_MODEL = "claude-haiku-4-5"


def _infer_provider(model: str | None, base_url: str | None) -> str:
    if model and model.lower().startswith("claude"):
        return "anthropic"
    if base_url:
        host = (urlsplit(base_url).hostname or "").lower()
        return "anthropic" if host == "anthropic.com" or host.endswith(".anthropic.com") else "openai"
    if not model and not os.environ.get("OPENAI_API_KEY") and os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic"
    return "openai"


def build_judge(
    model: str | None = None,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str | None = None,
    timeout: float = 5.0,
    max_concurrency: int = 4,
    max_retries: int = 2,
    temperature: float | None = 0.0,
    max_tokens: int | None = None,
    history: int = 10,
    api_key_env: str | None = None,
    response_format: Literal["json_schema", "json_object", "none"] = "json_schema",
    thresholds: JudgeThresholds | Mapping[str, Any] | None = None,
    cache: bool = True,
    cache_ttl: float = 300.0,
) -> Judge | None:
    """Build the tier-2 judge, or return None when none is configured.

    Args:
        model: Model name; else ``AGENTGATE_JUDGE_MODEL``; else ``gpt-4o-mini`` /
            ``claude-haiku-4-5`` by provider.
        api_key: The judge's key; else the variable named by `api_key_env`; else
            ``AGENTGATE_JUDGE_API_KEY``; else ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY``.
        base_url: Any OpenAI-compatible URL (Azure, Ollama, vLLM, Together ...) or an
            Anthropic-compatible one; else ``AGENTGATE_JUDGE_BASE_URL``.
        provider: ``openai`` or ``anthropic``; inferred when omitted: anthropic for
            ``claude*`` models or an anthropic.com URL, else openai-compatible.
        timeout: Total seconds for one review, retries included (default 5).
        max_concurrency: Most reviews in flight at once (per thread pool / event loop).
        max_retries: Extra attempts after a 429, 5xx or connection error.
        temperature: Sampling temperature (0: as repeatable as the model allows).
        max_tokens: Longest answer (default 400; 4000 for OpenAI reasoning models, whose
            reasoning counts against it).
        history: How many recent actions the prompt shows.
        api_key_env: Name of an environment variable holding the key.
        response_format: ``json_schema`` (structured outputs, default), ``json_object``
            (JSON mode; OpenAI-compatible only) or ``none`` (no constraint; for Anthropic,
            anything but ``json_schema`` sends no ``output_config``).
        thresholds: How answers become verdicts: a `JudgeThresholds` or its fields as a
            mapping (from agentgate.yaml); default `JudgeThresholds()`.
        cache: Wrap the judge in a `CachingJudge` (TTL cache + single-flight).
        cache_ttl: Seconds a cached answer is reused.

    Returns None when there is neither a key nor a base URL: the firewall then
    applies ``on_escalate``. Raises ``MissingDependencyError`` when the provider's
    SDK is not installed, ``ConfigError`` for invalid settings.
    """
    model = model or os.environ.get("AGENTGATE_JUDGE_MODEL") or None
    base_url = base_url or os.environ.get("AGENTGATE_JUDGE_BASE_URL") or None
    provider = (provider or _infer_provider(model, base_url)).lower()
    if provider not in ("openai", "anthropic"):
        raise ConfigError(f"judge provider must be 'openai' or 'anthropic', not {provider!r}")
    key = (
        api_key
        or (os.environ.get(api_key_env) if api_key_env else None)
        or os.environ.get("AGENTGATE_JUDGE_API_KEY")
        or os.environ.get("OPENAI_API_KEY" if provider == "openai" else "ANTHROPIC_API_KEY")
    )
    if not key and not base_url:
        return None
    if isinstance(thresholds, Mapping):
        try:
            thresholds = JudgeThresholds(**thresholds)
        except TypeError as exc:
            raise ConfigError(f"judge thresholds: {exc}") from None
    judge: LLMJudge
    common: dict[str, Any] = {
        "api_key": key,
        "base_url": base_url,
        "timeout": timeout,
        "max_retries": max_retries,
        "max_concurrency": max_concurrency,
        "temperature": temperature,
        "max_tokens": max_tokens or (4000 if is_reasoning_model(model or DEFAULT_OPENAI_MODEL) else 400),
        "history": history,
        "thresholds": thresholds,
    }
    if provider == "anthropic":
        from .anthropic import _sdk as anthropic_sdk

        anthropic_sdk()  # fail now, with the install hint, rather than at the first escalation
        common["max_tokens"] = max_tokens or 400
        judge = AnthropicJudge(
            model or DEFAULT_ANTHROPIC_MODEL, structured_output=response_format == "json_schema", **common
        )
    else:
        from .openai import _sdk as openai_sdk

        openai_sdk()
        judge = OpenAIJudge(model or DEFAULT_OPENAI_MODEL, response_format=response_format, **common)
    return CachingJudge(judge, ttl=cache_ttl) if cache else judge
