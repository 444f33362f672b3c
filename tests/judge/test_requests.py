"""What each provider sends: structured output, temperature, keys, the judge's own client."""

from __future__ import annotations

import pytest

from agentgate._errors import JudgeError
from agentgate.judge import ANSWER_JSON_SCHEMA, AnthropicJudge, OpenAIJudge

from .conftest import MakeReq
from .servers import FakeLLM, Reply, split_prompt


def test_openai_request_uses_structured_outputs(llm: FakeLLM, make_req: MakeReq) -> None:
    """OpenAI-compatible: strict json_schema response_format, temperature 0, system+user, judge key."""
    judge = OpenAIJudge("gpt-test", api_key="sk-judge", base_url=llm.openai_url)
    judge.judge(make_req())
    judge.close()
    body, headers = llm.requests[0], llm.headers[0]
    assert body["path"] == "/v1/chat/completions"
    assert body["model"] == "gpt-test"
    assert body["temperature"] == 0.0
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "agentgate_verdict", "strict": True, "schema": ANSWER_JSON_SCHEMA},
    }
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert headers["authorization"] == "Bearer sk-judge"
    assert headers["x-agentgate-role"] == "judge"
    trusted, data = split_prompt(body)
    assert "SELECT f(amount) FROM sales_data" in data
    assert "SELECT f(amount)" not in trusted


def test_openai_json_object_and_none_modes(llm: FakeLLM, make_req: MakeReq) -> None:
    """Servers without structured outputs get JSON mode, or no constraint at all."""
    for mode, expected in (("json_object", {"type": "json_object"}), ("none", None)):
        llm.reset()
        judge = OpenAIJudge("m", base_url=llm.openai_url, response_format=mode)  # type: ignore[arg-type]
        judge.judge(make_req())
        judge.close()
        assert llm.requests[0].get("response_format") == expected


def test_openai_sdk_retries_are_off(llm: FakeLLM, make_req: MakeReq) -> None:
    """With max_retries=0 the server sees exactly one request: the SDK adds no hidden retries."""
    llm.reset(Reply(status=503), Reply(status=503))
    judge = OpenAIJudge("m", base_url=llm.openai_url, max_retries=0)
    with pytest.raises(JudgeError, match="HTTP 503"):
        judge.judge(make_req())
    judge.close()
    assert len(llm.requests) == 1


def test_anthropic_request_uses_output_config(llm: FakeLLM, make_req: MakeReq) -> None:
    """Anthropic: system prompt, output_config json_schema, the judge key, no temperature unless asked."""
    judge = AnthropicJudge("claude-test", api_key="sk-ant-judge", base_url=llm.anthropic_url)
    judge.judge(make_req())
    judge.close()
    body, headers = llm.requests[0], llm.headers[0]
    assert body["path"] == "/v1/messages"
    assert body["output_config"] == {"format": {"type": "json_schema", "schema": ANSWER_JSON_SCHEMA}}
    assert "security reviewer" in body["system"]
    assert "temperature" not in body
    assert "sk-ant-judge" in (headers.get("x-api-key", "") + headers.get("authorization", ""))
    assert "anthropic-version" in headers
    assert headers["x-agentgate-role"] == "judge"


def test_anthropic_temperature_when_asked(llm: FakeLLM, make_req: MakeReq) -> None:
    """send_temperature=True sends temperature 0 for gateways that take it."""
    judge = AnthropicJudge("claude-test", base_url=llm.anthropic_url, send_temperature=True, structured_output=False)
    judge.judge(make_req())
    judge.close()
    assert llm.requests[0]["temperature"] == 0.0
    assert "output_config" not in llm.requests[0]


def test_history_in_prompt_is_bounded(llm: FakeLLM, make_req: MakeReq) -> None:
    """Only the last `history` actions reach the judge, with their verdicts."""
    hist = [(f"tool_{i}", {"i": i}, "allow" if i % 2 else "block", None) for i in range(20)]
    judge = OpenAIJudge("m", base_url=llm.openai_url, history=3)
    judge.judge(make_req(history=hist))
    judge.close()
    trusted, data = split_prompt(llm.requests[0])
    assert "RECENT ACTIONS (3" in trusted
    assert "block, allow, block" not in trusted
    assert "allow, block, allow" in trusted
    assert "tool_19" in data
    assert "tool_16" not in data


def test_reasoning_model_request(llm: FakeLLM, make_req: MakeReq) -> None:
    """Reasoning models (o4-mini, gpt-5): no temperature; max_completion_tokens when asked (OpenAI's own API)."""
    judge = OpenAIJudge("o4-mini", base_url=llm.openai_url, length_param="max_completion_tokens")
    judge.judge(make_req())
    judge.close()
    body = llm.requests[0]
    assert "temperature" not in body
    assert body["max_completion_tokens"] == 400
    assert "max_tokens" not in body


@pytest.mark.parametrize(
    ("base_url", "param"),
    [
        (None, "max_completion_tokens"),
        ("https://api.openai.com/v1", "max_completion_tokens"),
        ("https://acme.openai.azure.com/openai/v1", "max_completion_tokens"),
        ("http://localhost:11434/v1", "max_tokens"),
        ("https://api.together.xyz/v1", "max_tokens"),
    ],
)
def test_length_parameter_by_host(base_url: str | None, param: str) -> None:
    """OpenAI and Azure get max_completion_tokens; other OpenAI-compatible servers get max_tokens."""
    assert OpenAIJudge("gpt-4o-mini", base_url=base_url).length_param == param


def test_build_judge_maps_settings_per_provider() -> None:
    """response_format='none' turns Anthropic structured output off; reasoning models get a larger answer budget."""
    from agentgate.judge import build_judge

    anth = build_judge("claude-x", api_key="k", response_format="none", cache=False)
    assert isinstance(anth, AnthropicJudge)
    assert anth.structured_output is False
    reasoning = build_judge("gpt-5-mini", api_key="k", cache=False)
    assert isinstance(reasoning, OpenAIJudge)
    assert reasoning.max_tokens == 4000
