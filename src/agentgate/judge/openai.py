"""A judge on any OpenAI-compatible chat completions endpoint.

OpenAI itself, Azure OpenAI (``base_url=https://<resource>.openai.azure.com/openai/v1``),
Ollama (``http://localhost:11434/v1``), vLLM, LM Studio, Together, Groq,
OpenRouter ... all speak ``POST {base_url}/chat/completions``; the official
``openai`` SDK is the client, imported only when a judge is built.

Output is constrained with structured outputs (``response_format`` of type
``json_schema``, strict) by default; servers that only know JSON mode take
``response_format="json_object"``, and ``"none"`` sends no constraint (the answer is
still validated strictly).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from agentgate._errors import MissingDependencyError

from .base import ANSWER_JSON_SCHEMA, JudgeFailure, LLMJudge, _AttemptError, async_http_client, http_client, httpx_of
from .prompt import JudgePrompt

__all__ = ["OpenAIJudge", "is_reasoning_model"]


def _sdk() -> Any:
    try:
        import openai
    except ImportError:
        raise MissingDependencyError("openai", "openai") from None
    return openai


_REASONING = re.compile(r"^(?:[\w.-]+/)?(?:o\d|gpt-5)", re.IGNORECASE)


def is_reasoning_model(model: str) -> bool:
    """OpenAI reasoning models take no temperature and spend output tokens on reasoning.

    >>> is_reasoning_model("o4-mini"), is_reasoning_model("gpt-5-mini"), is_reasoning_model("gpt-4o-mini")
    (True, True, False)
    """
    return bool(_REASONING.match(model))


def _retry_after(headers: Any) -> float | None:
    try:
        value = headers.get("retry-after-ms")
        if value is not None:
            return float(value) / 1000.0
        value = headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date: use our own backoff rather than parse it


def malformed_body(exc: Exception) -> JudgeFailure:
    """The failure for a response body the SDK could not read as the API's shape."""
    return JudgeFailure(f"malformed response from the judge endpoint ({type(exc).__name__}: {str(exc)[:120]})")


def classify_sdk_error(exc: Exception, sdk: Any, timeout: float) -> JudgeFailure:
    """Map an OpenAI- or Anthropic-SDK exception (same shapes) to a `JudgeFailure`."""
    if isinstance(exc, sdk.APITimeoutError):
        return JudgeFailure(f"timeout after {timeout:.2f}s", retryable=False)
    if isinstance(exc, sdk.APIStatusError):
        code = exc.status_code
        retryable = code in (408, 409, 429) or code >= 500
        return JudgeFailure(f"HTTP {code} from the judge endpoint", retryable, _retry_after(exc.response.headers))
    if isinstance(exc, sdk.APIConnectionError):
        if isinstance(exc.__cause__, httpx_of(sdk).DecodingError):  # our body cap (or a corrupt body): no retry
            return JudgeFailure(f"unreadable response from the judge endpoint: {exc.__cause__}")
        return JudgeFailure(f"connection error: {exc}", retryable=True)
    if isinstance(exc, sdk.APIResponseValidationError):
        return JudgeFailure(f"malformed response from the judge endpoint: {exc}")
    return JudgeFailure(f"{type(exc).__name__}: {exc}")


@dataclass
class OpenAIJudge(LLMJudge):
    """Tier-2 judge on an OpenAI-compatible endpoint (see `LLMJudge` for timeouts and retries).

    Attributes:
        response_format: ``json_schema`` (structured outputs, default), ``json_object``
            (JSON mode) or ``none``.
        length_param: Name of the answer-length parameter; ``auto`` sends
            ``max_completion_tokens`` to OpenAI and Azure, ``max_tokens`` elsewhere.
    """

    response_format: Literal["json_schema", "json_object", "none"] = "json_schema"
    length_param: Literal["auto", "max_tokens", "max_completion_tokens"] = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.provider = "openai"
        if self.length_param == "auto":
            # OpenAI's own API (and Azure's) want max_completion_tokens (reasoning models
            # reject max_tokens); other OpenAI-compatible servers know max_tokens.
            host = (urlsplit(self.base_url).hostname or "").lower() if self.base_url else "api.openai.com"
            official = host.endswith((".openai.com", ".azure.com")) or host == "openai.com"
            self.length_param = "max_completion_tokens" if official else "max_tokens"

    @property
    def reasoning_model(self) -> bool:
        """True for OpenAI reasoning models (o1, o3, o4-mini, gpt-5 ...), which take no temperature."""
        return is_reasoning_model(self.model)

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            # A local server (Ollama, vLLM) needs no key, but the SDK insists on one.
            "api_key": self.api_key or "unused",
            "base_url": self.base_url,
            "max_retries": 0,
            "timeout": self.timeout,
            "default_headers": {"X-AgentGate-Role": "judge", **self.default_headers},
        }

    def _new_sync_client(self) -> Any:
        return _sdk().OpenAI(**self._client_kwargs(), http_client=http_client(_sdk(), self.timeout))

    def _new_async_client(self) -> Any:
        return _sdk().AsyncOpenAI(**self._client_kwargs(), http_client=async_http_client(_sdk(), self.timeout))

    def _request(self, prompt: JudgePrompt, timeout: float) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}],
            self.length_param: self.max_tokens,
            "timeout": max(timeout, 0.001),
        }
        if self.temperature is not None and not self.reasoning_model:
            kw["temperature"] = self.temperature
        if self.response_format == "json_schema":
            kw["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": prompt.schema_name,
                    "strict": True,
                    "schema": dict(prompt.schema or ANSWER_JSON_SCHEMA),
                },
            }
        elif self.response_format == "json_object":
            kw["response_format"] = {"type": "json_object"}
        return kw

    def _text(self, completion: Any) -> str:
        choices = getattr(completion, "choices", None) or []
        if not choices:
            raise _AttemptError(JudgeFailure("malformed response: no choices"))
        choice = choices[0]
        message = choice.message
        refusal = getattr(message, "refusal", None)
        if refusal:
            raise _AttemptError(JudgeFailure(f"model refused: {str(refusal)[:200]}"))
        if choice.finish_reason == "content_filter":
            raise _AttemptError(JudgeFailure("model refused: content filter"))
        if choice.finish_reason == "length":
            raise _AttemptError(JudgeFailure(f"malformed judge answer: cut off at max_tokens={self.max_tokens}"))
        content = message.content
        if not isinstance(content, str) or not content.strip():
            raise _AttemptError(JudgeFailure("malformed judge answer: empty message"))
        return content

    def _attempt_sync(self, prompt: JudgePrompt, timeout: float) -> str:
        sdk = _sdk()
        try:
            completion = self._client().chat.completions.create(**self._request(prompt, timeout))
            return self._text(completion)
        except sdk.OpenAIError as exc:
            raise _AttemptError(classify_sdk_error(exc, sdk, self.timeout)) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # a body that is not the API's shape
            raise _AttemptError(malformed_body(exc)) from None

    async def _attempt_async(self, prompt: JudgePrompt, timeout: float) -> str:
        sdk = _sdk()
        try:
            completion = await self._aclient().chat.completions.create(**self._request(prompt, timeout))
            return self._text(completion)
        except sdk.OpenAIError as exc:
            raise _AttemptError(classify_sdk_error(exc, sdk, self.timeout)) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # a body that is not the API's shape
            raise _AttemptError(malformed_body(exc)) from None
