"""A judge on Anthropic's Messages API (``POST {base_url}/v1/messages``) through the
official ``anthropic`` SDK, imported only when a judge is built.

Output is constrained with structured outputs (``output_config.format`` of type
``json_schema``) by default; ``structured_output=False`` sends no constraint for
gateways that do not know it (the answer is still validated strictly).
The 2.x SDK's ``messages.create`` takes no ``temperature``; a non-None
`temperature` is sent through ``extra_body`` only when `send_temperature` is set,
for gateways and older models that accept it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agentgate._errors import MissingDependencyError

from .base import ANSWER_JSON_SCHEMA, JudgeFailure, LLMJudge, _AttemptError, async_http_client, http_client
from .openai import classify_sdk_error, malformed_body
from .prompt import JudgePrompt

__all__ = ["AnthropicJudge"]


def _sdk() -> Any:
    try:
        import anthropic
    except ImportError:
        raise MissingDependencyError("anthropic", "anthropic") from None
    return anthropic


@dataclass
class AnthropicJudge(LLMJudge):
    """Tier-2 judge on the Anthropic Messages API (see `LLMJudge` for timeouts and retries).

    Attributes:
        structured_output: Send ``output_config.format`` with the answer's JSON schema.
        send_temperature: Send `temperature` in the request body.
    """

    structured_output: bool = True
    send_temperature: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self.provider = "anthropic"

    def _client_kwargs(self) -> dict[str, Any]:
        return {
            "api_key": self.api_key or "unused",
            "base_url": self.base_url,
            "max_retries": 0,
            "timeout": self.timeout,
            "default_headers": {"X-AgentGate-Role": "judge", **self.default_headers},
        }

    def _new_sync_client(self) -> Any:
        return _sdk().Anthropic(**self._client_kwargs(), http_client=http_client(_sdk(), self.timeout))

    def _new_async_client(self) -> Any:
        return _sdk().AsyncAnthropic(**self._client_kwargs(), http_client=async_http_client(_sdk(), self.timeout))

    def _request(self, prompt: JudgePrompt, timeout: float) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "model": self.model,
            "system": prompt.system,
            "messages": [{"role": "user", "content": prompt.user}],
            "max_tokens": self.max_tokens,
            "timeout": max(timeout, 0.001),
        }
        if self.structured_output:
            kw["output_config"] = {
                "format": {"type": "json_schema", "schema": dict(prompt.schema or ANSWER_JSON_SCHEMA)}
            }
        if self.send_temperature and self.temperature is not None:
            kw["extra_body"] = {"temperature": self.temperature}
        return kw

    def _text(self, message: Any) -> str:
        stop = getattr(message, "stop_reason", None)
        if stop == "refusal":
            raise _AttemptError(JudgeFailure("model refused (stop_reason=refusal)"))
        if stop == "max_tokens":
            raise _AttemptError(JudgeFailure(f"malformed judge answer: cut off at max_tokens={self.max_tokens}"))
        texts = [b.text for b in (getattr(message, "content", None) or []) if getattr(b, "type", None) == "text"]
        content = "".join(texts)
        if not content.strip():
            raise _AttemptError(JudgeFailure("malformed judge answer: no text content"))
        return content

    def _attempt_sync(self, prompt: JudgePrompt, timeout: float) -> str:
        sdk = _sdk()
        try:
            message = self._client().messages.create(**self._request(prompt, timeout))
            return self._text(message)
        except sdk.AnthropicError as exc:
            raise _AttemptError(classify_sdk_error(exc, sdk, self.timeout)) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # a body that is not the API's shape
            raise _AttemptError(malformed_body(exc)) from None

    async def _attempt_async(self, prompt: JudgePrompt, timeout: float) -> str:
        sdk = _sdk()
        try:
            message = await self._aclient().messages.create(**self._request(prompt, timeout))
            return self._text(message)
        except sdk.AnthropicError as exc:
            raise _AttemptError(classify_sdk_error(exc, sdk, self.timeout)) from None
        except (ValueError, TypeError, AttributeError, KeyError) as exc:  # a body that is not the API's shape
            raise _AttemptError(malformed_body(exc)) from None
