"""build_judge: provider inference, key resolution, no judge without configuration; module doctests."""

from __future__ import annotations

import doctest
import importlib
import sys

import pytest

from agentgate._errors import ConfigError, MissingDependencyError
from agentgate.judge import AnthropicJudge, CachingJudge, OpenAIJudge, build_judge

from .conftest import MakeReq
from .servers import FakeLLM


def test_no_configuration_no_judge() -> None:
    """No key and no base URL: None (the firewall then applies on_escalate)."""
    assert build_judge() is None
    assert build_judge("gpt-4o-mini") is None


@pytest.mark.parametrize(
    ("kw", "env", "cls", "model"),
    [
        ({"api_key": "k"}, {}, OpenAIJudge, "gpt-4o-mini"),
        ({"model": "claude-sonnet-4-5", "api_key": "k"}, {}, AnthropicJudge, "claude-sonnet-4-5"),
        ({"base_url": "https://api.anthropic.com"}, {}, AnthropicJudge, "claude-haiku-4-5"),
        ({"base_url": "http://localhost:11434/v1", "model": "llama3.1"}, {}, OpenAIJudge, "llama3.1"),
        ({}, {"ANTHROPIC_API_KEY": "k"}, AnthropicJudge, "claude-haiku-4-5"),
        ({}, {"OPENAI_API_KEY": "k", "AGENTGATE_JUDGE_MODEL": "gpt-x"}, OpenAIJudge, "gpt-x"),
        ({"provider": "anthropic", "base_url": "http://gateway.local"}, {}, AnthropicJudge, "claude-haiku-4-5"),
        ({}, {"AGENTGATE_JUDGE_BASE_URL": "http://vllm.local/v1"}, OpenAIJudge, "gpt-4o-mini"),
    ],
    ids=["openai-key", "claude-model", "anthropic-url", "ollama", "anthropic-env", "model-env", "explicit", "url-env"],
)
def test_provider_inference(
    monkeypatch: pytest.MonkeyPatch, kw: dict[str, str], env: dict[str, str], cls: type, model: str
) -> None:
    """Anthropic for claude* models or anthropic.com URLs (or only an Anthropic key), else OpenAI-compatible."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    judge = build_judge(**kw)  # type: ignore[arg-type]
    assert isinstance(judge, CachingJudge)
    assert isinstance(judge.inner, cls)
    assert judge.model == model


def test_key_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argument > api_key_env > AGENTGATE_JUDGE_API_KEY > the provider's own variable."""
    monkeypatch.setenv("OPENAI_API_KEY", "agent-key")
    monkeypatch.setenv("AGENTGATE_JUDGE_API_KEY", "judge-key")
    monkeypatch.setenv("MY_JUDGE_KEY", "custom-key")

    def key(**kw: str) -> str | None:
        j = build_judge(cache=False, **kw)  # type: ignore[arg-type]
        assert isinstance(j, OpenAIJudge)
        return j.api_key

    assert key(api_key="arg-key") == "arg-key"
    assert key(api_key_env="MY_JUDGE_KEY") == "custom-key"
    assert key() == "judge-key"
    monkeypatch.delenv("AGENTGATE_JUDGE_API_KEY")
    assert key() == "agent-key"


def test_settings_reach_the_judge() -> None:
    """timeout, max_concurrency, retries and temperature are passed through; cache=False gives the bare judge."""
    j = build_judge("m", api_key="k", timeout=1.5, max_concurrency=2, max_retries=1, temperature=0.0, cache=False)
    assert isinstance(j, OpenAIJudge)
    assert (j.timeout, j.max_concurrency, j.max_retries, j.temperature) == (1.5, 2, 1, 0.0)


@pytest.mark.parametrize("kw", [{"provider": "cohere"}, {"timeout": 0}, {"max_concurrency": 0}, {"max_retries": -1}])
def test_invalid_settings(kw: dict[str, object]) -> None:
    """Invalid settings are a ConfigError when the judge is built."""
    with pytest.raises(ConfigError):
        build_judge("m", api_key="k", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("sdk", "model"), [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku-4-5")])
def test_missing_sdk(monkeypatch: pytest.MonkeyPatch, sdk: str, model: str) -> None:
    """Without the provider's SDK installed, building the judge names the extra to install."""
    monkeypatch.setitem(sys.modules, sdk, None)
    with pytest.raises(MissingDependencyError, match=rf"agentgate-action-firewall\[{sdk}\]"):
        build_judge(model, api_key="k")


def test_built_judge_works_end_to_end(llm: FakeLLM, make_req: MakeReq) -> None:
    """A judge from build_judge(base_url=...) talks to the server and caches."""
    judge = build_judge("gpt-test", base_url=llm.openai_url)
    assert judge is not None
    judge.judge(make_req())
    assert judge.judge(make_req()).cached
    assert len(llm.requests) == 1


def test_agentgate_core_import_does_not_import_sdks() -> None:
    """Importing the judge package loads no SDK (they are imported when a judge is built)."""
    code = (
        "import agentgate.judge, agentgate._escalation, sys; print('openai' in sys.modules, 'anthropic' in sys.modules)"
    )
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.mark.parametrize(
    "module",
    [
        "agentgate.judge",
        "agentgate.judge.base",
        "agentgate.judge.prompt",
        "agentgate.judge.approvers",
        "agentgate.judge.openai",
        "agentgate._escalation",
    ],
)
def test_doctests(module: str) -> None:
    """The examples in the module docstrings run."""
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_thresholds_from_a_mapping() -> None:
    """Thresholds given as a mapping (agentgate.yaml) become JudgeThresholds; unknown keys are a ConfigError."""
    from agentgate.judge import JudgeThresholds

    j = build_judge("m", api_key="k", thresholds={"min_confidence": 0.9})
    assert j is not None
    assert j.thresholds == JudgeThresholds(min_confidence=0.9)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError):
        build_judge("m", api_key="k", thresholds={"min_confidense": 0.9})


def test_repr_does_not_leak_the_key() -> None:
    """A judge's repr (logs, tracebacks) never shows its API key."""
    j = build_judge("m", api_key="sk-very-secret", cache=False)
    assert "sk-very-secret" not in repr(j)
