"""Anthropic SDK: decide every ``tool_use`` block before the agent (or the tool runner) can run it.

Hooks, verified for anthropic 2.14 (see docs/integrations.md):

* ``anthropic._response.APIResponse.parse`` / ``AsyncAPIResponse.parse``:
  ``messages.create`` (and ``beta.messages``), sync and async,
  ``with_raw_response`` (which returns an ``APIResponse`` in this SDK) and the
  beta tool runner, which asks for its messages through the same path;
* ``anthropic._streaming.Stream.__stream__`` / ``AsyncStream.__stream__``:
  ``create(stream=True)``, ``messages.stream()`` and the streaming tool runner.
  A ``tool_use`` block is assembled from its ``input_json_delta`` fragments and
  decided *before* its ``content_block_stop`` event is handed over.

``server_tool_use`` / ``mcp_tool_use`` blocks run on Anthropic's side and cannot
be stopped from the client.

A block raises `FirewallBlockedError` out of the SDK call, so neither the agent
loop nor the tool runner ever holds the call. With
``install(on_block="return_error")`` a non-streamed message is rewritten: the
blocked ``tool_use`` blocks are removed and a text block says what was blocked
and why. Streams always raise.

The request's ``system`` prompt and the user's text blocks become the trusted
task context; ``tool_result`` blocks the loop sends back are recorded as the
results of the calls they answer (they are never trusted).
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ._sdk_hooks import (
    Blocked,
    ClassPatcher,
    Proposed,
    adecide_all,
    block_note,
    check_on_block,
    decide_all,
    managed_elsewhere,
    record_results,
    stash_trusted,
    wrap_astream,
    wrap_stream,
)
from ._versions import tested as _versions

__all__ = ["FRAMEWORK", "TESTED_VERSIONS", "available", "install", "installed", "uninstall", "unpatch"]

FRAMEWORK = "anthropic"
TESTED_VERSIONS: dict[str, str] = _versions("anthropic")

_patcher = ClassPatcher()
_settings: dict[str, str] = {"on_block": "raise"}


def available() -> bool:
    """Whether the ``anthropic`` package is importable."""
    return importlib.util.find_spec("anthropic") is not None


def installed() -> bool:
    """Whether the hooks are in place."""
    return _patcher.active


def install(on_block: str = "raise") -> bool:
    """Hook the Anthropic SDK (idempotent). Returns False when ``anthropic`` is not installed.

    Args:
        on_block: ``"raise"`` (default) raises `FirewallBlockedError` from the SDK
            call; ``"return_error"`` rewrites a non-streamed message so the model is
            told the call was blocked.
    """
    _settings["on_block"] = check_on_block(on_block)
    if _patcher.active:
        return True
    if not available():
        return False
    from anthropic import _response, _streaming

    _patcher.patch(_response.APIResponse, "parse", _wrap_parse)
    _patcher.patch(_response.AsyncAPIResponse, "parse", _wrap_aparse)
    _patcher.patch(_streaming.Stream, "__stream__", _wrap_stream)
    _patcher.patch(_streaming.AsyncStream, "__stream__", _wrap_astream)
    return True


def uninstall() -> None:
    """Restore the SDK's original methods."""
    _patcher.restore()


unpatch = uninstall


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _texts(content: Any) -> list[str]:
    """Text of a ``content`` (a string or blocks); tool results and documents are not text."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if _get(block, "type") == "text" and isinstance(_get(block, "text"), str):
                out.append(_get(block, "text"))
    return out


def _result_of(block: Any) -> Any:
    content = _get(block, "content")
    if isinstance(content, list):
        return "\n".join(_texts(content))
    return content


def _observe_request(options: Any) -> None:
    body = getattr(options, "json_data", None)
    if not isinstance(body, dict) or "messages" not in body:
        return
    other = _texts(body.get("system"))
    task: list[str] = []
    results: list[tuple[str, Any]] = []
    for msg in body.get("messages") or ():
        if _get(msg, "role") != "user":
            continue
        content = _get(msg, "content")
        task.extend(_texts(content))
        if isinstance(content, list):
            for block in content:
                if _get(block, "type") == "tool_result" and isinstance(_get(block, "tool_use_id"), str):
                    results.append((_get(block, "tool_use_id"), _result_of(block)))
    stash_trusted(task, other)
    if results:
        record_results(results)


def _message_calls(message: Any) -> list[Proposed] | None:
    """The ``tool_use`` blocks of a Message, or None if *message* is not one."""
    if getattr(message, "type", None) != "message" or not isinstance(getattr(message, "content", None), list):
        return None
    return [Proposed(b.name, b.input, b.id) for b in message.content if getattr(b, "type", None) == "tool_use"]


def _rewrite(message: Any, blocked: list[Blocked]) -> None:
    ids = {b.call.call_id for b in blocked}
    kept = [b for b in message.content if not (getattr(b, "type", None) == "tool_use" and b.id in ids)]
    # Same block family as the message (beta messages hold BetaTextBlock).
    first_text = next((b for b in message.content if getattr(b, "type", None) == "text"), None)
    if first_text is not None:
        text_cls: Any = type(first_text)
    elif type(message).__name__.startswith(("Beta", "ParsedBeta")):
        from anthropic.types.beta import BetaTextBlock

        text_cls = BetaTextBlock
    else:
        from anthropic.types import TextBlock

        text_cls = TextBlock
    kept.append(text_cls(type="text", text=block_note(blocked)))
    message.content = kept
    if message.stop_reason == "tool_use" and not any(getattr(b, "type", None) == "tool_use" for b in kept):
        message.stop_reason = "end_turn"


def _settle(message: Any, blocked: list[Blocked]) -> None:
    if not blocked:
        return
    if _settings["on_block"] == "raise":
        raise blocked[0].error
    _rewrite(message, blocked)


def _wrap_parse(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def parse(self: Any, **kwargs: Any) -> Any:
        out = original(self, **kwargs)
        if managed_elsewhere():
            return out
        calls = _message_calls(out)
        if calls is None or id(out) in self.__dict__.get("_agentgate_seen", ()):
            return out
        _observe_request(getattr(self, "_options", None))
        _settle(out, decide_all(calls, FRAMEWORK))
        self.__dict__.setdefault("_agentgate_seen", set()).add(id(out))
        return out

    return parse


def _wrap_aparse(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def parse(self: Any, **kwargs: Any) -> Any:
        out = await original(self, **kwargs)
        if managed_elsewhere():
            return out
        calls = _message_calls(out)
        if calls is None or id(out) in self.__dict__.get("_agentgate_seen", ()):
            return out
        _observe_request(getattr(self, "_options", None))
        _settle(out, await adecide_all(calls, FRAMEWORK))
        self.__dict__.setdefault("_agentgate_seen", set()).add(id(out))
        return out

    return parse


class _Blocks:
    """Assembles streamed ``tool_use`` blocks; yields each once its ``content_block_stop`` arrives."""

    __slots__ = ("_open",)

    def __init__(self) -> None:
        # block index -> [id, name, initial input, fragments]
        self._open: dict[int, list[Any]] = {}

    def _close(self, index: int) -> list[Proposed]:
        slot = self._open.pop(index, None)
        if slot is None:
            return []
        call_id, name, initial, frags = slot
        if not frags:
            return [Proposed(name, initial or {}, call_id)]
        text = "".join(frags)
        try:
            args: Any = json.loads(text)
        except ValueError:
            args = text  # malformed JSON is still analyzed whole, never dropped
        return [Proposed(name, args, call_id)]

    def feed(self, event: Any) -> list[Proposed]:
        """Take one raw stream event; return the calls it completes."""
        kind = getattr(event, "type", None)
        if kind == "content_block_start":
            block = event.content_block
            if getattr(block, "type", None) == "tool_use":
                self._open[event.index] = [block.id, block.name, block.input, []]
        elif kind == "content_block_delta":
            slot = self._open.get(event.index)
            delta = event.delta
            if slot is not None and getattr(delta, "type", None) == "input_json_delta":
                slot[3].append(delta.partial_json)
        elif kind == "content_block_stop":
            return self._close(event.index)
        elif kind in ("message_delta", "message_stop"):
            return self.end()
        return []

    def end(self) -> list[Proposed]:
        """Blocks that never got their stop event (decided anyway: the loop may use them)."""
        ready: list[Proposed] = []
        for index in list(self._open):
            ready.extend(self._close(index))
        return ready


def _wrap_stream(original: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    return wrap_stream(original, _Blocks, _observe_request, FRAMEWORK)


def _wrap_astream(original: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    return wrap_astream(original, _Blocks, _observe_request, FRAMEWORK)
