"""OpenAI SDK: decide every tool call a model proposes before the agent can dispatch it.

The SDK does not run tools; the agent loop does, with what the SDK returns. So
the hooks sit where a completion leaves the SDK, which every public entry point
goes through (verified for openai 3.57, see docs/integrations.md):

* ``openai._response.APIResponse.parse`` / ``AsyncAPIResponse.parse``: plain
  ``create``/``parse`` calls (chat completions and the Responses API), sync and
  async, and ``with_streaming_response``;
* ``openai._legacy_response.LegacyAPIResponse.parse``: ``with_raw_response``;
* ``openai._streaming.Stream.__stream__`` / ``AsyncStream.__stream__``:
  ``stream=True`` and the ``.stream()`` helpers. Deltas are assembled per
  ``(choice, tool index)`` (chat) or per output item (Responses); a call is
  decided *before* the chunk that completes it (``finish_reason``,
  ``function_call_arguments.done``, ``output_item.done``) is handed over.

Patching ``Completions.create`` alone would miss the async client, ``parse``,
raw responses and streams.

A block raises `FirewallBlockedError` out of the SDK call, so the loop never
holds the proposal. With ``install(on_block="return_error")`` a non-streamed
completion is rewritten instead: the blocked calls are removed and the
assistant message says what was blocked and why (the model reads it on the next
turn). Streams always raise: part of the call was already handed over.

The request's ``system``/``developer``/``user`` messages (Responses:
``instructions`` and user ``input``) become the trusted task context of the
current `AgentContext`; ``role: tool`` messages and ``function_call_output``
items the loop sends back are recorded as the results of the calls they answer.
"""

from __future__ import annotations

import functools
import importlib.util
import shlex
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from agentgate._context import current_context, get_context

from ._sdk_hooks import (
    Blocked,
    ClassPatcher,
    Decided,
    Proposed,
    adecide_all,
    block_note,
    check_on_block,
    decide_all,
    managed_elsewhere,
    record_results,
    refuse,
    stash_trusted,
    wrap_astream,
    wrap_stream,
)
from ._versions import tested as _versions

__all__ = ["FRAMEWORK", "TESTED_VERSIONS", "available", "install", "installed", "uninstall", "unpatch"]

FRAMEWORK = "openai"
TESTED_VERSIONS: dict[str, str] = _versions("openai")

_patcher = ClassPatcher()
_settings: dict[str, str] = {"on_block": "raise"}

# Responses output items the *client* executes. Hosted tools (web/file search,
# code interpreter, remote MCP) run on OpenAI's side and cannot be stopped here.
_CLIENT_CALL_ITEMS = frozenset(
    {"function_call", "custom_tool_call", "computer_call", "local_shell_call", "shell_call", "apply_patch_call"}
)
_TRUSTED_ROLES = frozenset({"system", "developer"})
# Assistants objects whose request carries the user's words but no tool call.
_OBSERVE_ONLY = frozenset({"thread", "thread.message"})


def available() -> bool:
    """Whether the ``openai`` package is importable."""
    return importlib.util.find_spec("openai") is not None


def installed() -> bool:
    """Whether the hooks are in place."""
    return _patcher.active


def install(on_block: str = "raise") -> bool:
    """Hook the OpenAI SDK (idempotent). Returns False when ``openai`` is not installed.

    Args:
        on_block: ``"raise"`` (default) raises `FirewallBlockedError` from the SDK
            call; ``"return_error"`` rewrites a non-streamed completion so the model
            is told the call was blocked.
    """
    _settings["on_block"] = check_on_block(on_block)
    if _patcher.active:
        return True
    if not available():
        return False
    from openai import _base_client, _legacy_response, _response, _streaming

    _patcher.patch(_response.APIResponse, "parse", _wrap_parse)
    _patcher.patch(_response.AsyncAPIResponse, "parse", _wrap_aparse)
    _patcher.patch(_legacy_response.LegacyAPIResponse, "parse", _wrap_parse)
    _patcher.patch(_streaming.Stream, "__stream__", _wrap_stream)
    _patcher.patch(_streaming.AsyncStream, "__stream__", _wrap_astream)
    _patcher.patch(_base_client.BaseClient, "_build_request", _wrap_build_request)
    return True


def uninstall() -> None:
    """Restore the SDK's original methods."""
    _patcher.restore()


unpatch = uninstall


# -- reading SDK objects (pydantic models, or dicts in request bodies) --------------


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, key, None)


def _dump(obj: Any) -> Any:
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        return dump(mode="json", exclude_none=True)
    return obj


def _text_of(content: Any) -> str:
    """The text of a message ``content``: a string or a list of text parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif _get(part, "type") in ("text", "input_text", "output_text"):
                text = _get(part, "text")
                if isinstance(text, str):
                    parts.append(text)
        return "\n".join(parts)
    return ""


# -- the request side: trusted context and results of earlier calls ----------------


def _observe_request(options: Any) -> None:
    body = getattr(options, "json_data", None)
    if not isinstance(body, dict):
        return
    task: list[str] = []
    other: list[str] = []
    results: list[tuple[str, Any]] = []
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            role = _get(msg, "role")
            if role == "user":
                task.append(_text_of(_get(msg, "content")))
            elif role in _TRUSTED_ROLES:
                other.append(_text_of(_get(msg, "content")))
            elif role == "tool":
                call_id = _get(msg, "tool_call_id")
                if isinstance(call_id, str):
                    results.append((call_id, _text_of(_get(msg, "content"))))
    for out in body.get("tool_outputs") or ():  # Assistants: runs.submit_tool_outputs
        if isinstance(_get(out, "tool_call_id"), str):
            results.append((_get(out, "tool_call_id"), _get(out, "output")))
    if body.get("role") == "user" and "content" in body:  # Assistants: threads.messages.create
        task.append(_text_of(body["content"]))
    thread = body.get("thread")
    for msg in (_get(thread, "messages") or ()) if isinstance(thread, dict) else ():
        if _get(msg, "role") == "user":
            task.append(_text_of(_get(msg, "content")))
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        other.append(instructions)
    items = body.get("input")
    if isinstance(items, str):
        task.append(items)
    elif isinstance(items, list):
        for item in items:
            kind, role = _get(item, "type"), _get(item, "role")
            if role == "user" and kind in (None, "message"):
                task.append(_text_of(_get(item, "content")))
            elif role in _TRUSTED_ROLES and kind in (None, "message"):
                other.append(_text_of(_get(item, "content")))
            elif isinstance(kind, str) and kind.endswith("_call_output"):
                call_id = _get(item, "call_id")
                if isinstance(call_id, str):
                    results.append((call_id, _get(item, "output")))
    stash_trusted(task, other)
    if results:
        record_results(results)


# -- proposed calls in complete objects ------------------------------------------


def _chat_calls(completion: Any) -> list[Proposed]:
    calls: list[Proposed] = []
    for choice in _get(completion, "choices") or ():
        msg = _get(choice, "message")
        for tc in _get(msg, "tool_calls") or ():
            if _get(tc, "type") == "custom":
                custom = _get(tc, "custom")
                calls.append(Proposed(str(_get(custom, "name")), {"input": _get(custom, "input")}, _get(tc, "id")))
            else:
                fn = _get(tc, "function")
                calls.append(Proposed(str(_get(fn, "name")), _get(fn, "arguments") or "", _get(tc, "id")))
        fc = _get(msg, "function_call")
        if fc is not None:
            calls.append(
                Proposed(str(_get(fc, "name")), _get(fc, "arguments") or "", f"function_call:{_get(choice, 'index')}")
            )
    return calls


def _item_call(item: Any) -> Proposed | None:
    """The tool call in one Responses output item, or None for anything else."""
    kind = _get(item, "type")
    if kind not in _CLIENT_CALL_ITEMS:
        return None
    call_id = _get(item, "call_id") or _get(item, "id")
    if kind == "function_call":
        return Proposed(str(_get(item, "name")), _get(item, "arguments") or "", call_id)
    if kind == "custom_tool_call":
        return Proposed(str(_get(item, "name")), {"input": _get(item, "input")}, call_id)
    action = _dump(_get(item, "action")) or {}
    if kind == "local_shell_call":
        argv = [str(a) for a in (_get(action, "command") or ())]
        args = {"command": shlex.join(argv), "argv": argv}
        for key in ("working_directory", "env", "user"):
            if _get(action, key) is not None:
                args[key] = _get(action, key)
        return Proposed("local_shell", args, call_id)
    if kind == "shell_call":
        commands = [str(c) for c in (_get(action, "commands") or ())]
        return Proposed("shell", {"command": "\n".join(commands)}, call_id)
    if kind == "apply_patch_call":
        return Proposed("apply_patch", _dump(_get(item, "operation")) or {}, call_id)
    return Proposed("computer", {"action": action, "actions": _dump(_get(item, "actions"))}, call_id)


def _response_calls(response: Any) -> list[Proposed]:
    return [c for c in map(_item_call, _get(response, "output") or ()) if c is not None]


def _proposals(obj: Any) -> tuple[str, list[Proposed]] | None:
    """``(kind, calls)`` for a completion or a response (also parsed ``to=dict``), else None."""
    kind = _get(obj, "object")
    if kind == "chat.completion":
        return "chat", _chat_calls(obj)
    if kind == "response":
        return "response", _response_calls(obj)
    if kind == "thread.run":
        return "run", _run_calls(obj)
    return None


def _run_calls(run: Any) -> list[Proposed]:
    """Assistants API: the calls a run waits for (``status: requires_action``)."""
    if _get(run, "status") != "requires_action":
        return []
    outputs = _get(_get(run, "required_action"), "submit_tool_outputs")
    calls = []
    for tc in _get(outputs, "tool_calls") or ():
        fn = _get(tc, "function")
        calls.append(Proposed(str(_get(fn, "name")), _get(fn, "arguments") or "", _get(tc, "id")))
    return calls


def _rewrite(kind: str, obj: Any, blocked: Sequence[Blocked]) -> None:
    """Remove the blocked calls from a completion (``return_error``); the model is told on the next request.

    Allowed siblings stay and run. The refusal reaches the model as the blocked call's
    tool result: `_inject_refusals` puts the call back into the assistant turn the loop
    sends next and answers it with the refusal. Only when *every* call was blocked does
    the completion also carry the refusal as text (there is nothing left to dispatch).
    """
    ids = {b.call.call_id for b in blocked}
    note = block_note(blocked)
    refusals = {str(b.call.call_id): _refusal(b) for b in blocked}
    if kind == "chat":
        for choice in obj.choices:
            msg = choice.message
            before = list(msg.tool_calls or ())
            kept = [tc for tc in before if tc.id not in ids]
            gone = [tc for tc in before if tc.id in ids]
            removed = bool(gone)
            if getattr(msg, "function_call", None) is not None and f"function_call:{choice.index}" in ids:
                msg.function_call = None
                removed = True
            if not removed:
                continue
            msg.tool_calls = kept or None
            if not kept:
                msg.content = f"{msg.content}\n{note}" if msg.content else note
                if choice.finish_reason in ("tool_calls", "function_call"):
                    choice.finish_reason = "stop"
            if gone:
                _remember_refusal(
                    {
                        "kind": "chat",
                        "anchors": [tc.id for tc in kept],
                        "note": "" if kept else note,
                        "calls": [tc.model_dump(mode="json", exclude_none=True) for tc in gone],
                        "refusals": refusals,
                    }
                )
        return
    from openai.types.responses import ResponseOutputMessage, ResponseOutputText

    removed_items = [item for item in obj.output if (c := _item_call(item)) is not None and c.call_id in ids]
    obj.output = [item for item in obj.output if not any(item is r for r in removed_items)]
    kept_ids = [c.call_id for c in map(_item_call, obj.output) if c is not None]
    if not kept_ids:
        obj.output.append(
            ResponseOutputMessage(
                id="msg_agentgate_blocked",
                type="message",
                role="assistant",
                status="completed",
                content=[ResponseOutputText(type="output_text", text=note, annotations=[])],
            )
        )
    _remember_refusal(
        {
            "kind": "response",
            "response_id": _get(obj, "id"),
            "anchors": kept_ids,
            "note": "" if kept_ids else note,
            "calls": [_dump(item) for item in removed_items],
            "refusals": refusals,
        }
    )


# -- refusals as tool results --------------------------------------------------------

_REFUSALS_KEY = "agentgate.openai_refusals"
_MAX_REFUSALS = 64


def _refusal(b: Blocked) -> str:
    v = b.error.verdict
    return (
        f"[AgentGate] This tool call was blocked by policy ({v.policy_name or 'firewall'}): "
        f"{v.reasoning or 'not allowed'}. It did not run."
    )


def _remember_refusal(entry: dict[str, Any]) -> None:
    meta = get_context().metadata
    found = meta.get(_REFUSALS_KEY)
    if not isinstance(found, list):
        found = meta[_REFUSALS_KEY] = []
    found.append(entry)
    del found[:-_MAX_REFUSALS]


def _inject_refusals(body: dict[str, Any]) -> dict[str, Any] | None:
    """The request body with every blocked call answered by its refusal, or None when nothing applies.

    Agent loops resend the conversation each turn; the assistant turn that proposed a
    blocked call comes back without it (it was removed). That turn is recognised by an
    allowed sibling's id (or, when all were blocked, by the refusal text) and gets the
    call back, followed by a tool result carrying the refusal, so the model reads why as
    the result of the call it made. With ``previous_response_id`` (the server keeps the
    response, blocked calls included) the refusals are appended as call outputs. The
    caller's own message list is never modified.
    """
    pending = get_context().metadata.get(_REFUSALS_KEY)
    if not pending:
        return None
    messages = body.get("messages")
    if isinstance(messages, list):
        chat = _inject_chat(messages, [e for e in pending if e["kind"] == "chat"])
        return None if chat is None else {**body, "messages": chat}
    entries = [e for e in pending if e["kind"] == "response"]
    if not entries:
        return None
    items = body.get("input")
    chained = [e for e in entries if e["response_id"] and e["response_id"] == body.get("previous_response_id")]
    if chained:
        base = list(items) if isinstance(items, list) else ([{"role": "user", "content": items}] if items else [])
        answered = _outputs(base)
        extra = [
            {"type": "function_call_output", "call_id": cid, "output": text}
            for e in chained
            for cid, text in e["refusals"].items()
            if cid not in answered
        ]
        return {**body, "input": [*base, *extra]} if extra else None
    if isinstance(items, list):
        resp = _inject_response(items, entries)
        return None if resp is None else {**body, "input": resp}
    return None


def _outputs(items: Sequence[Any]) -> set[str]:
    """Call ids that already have an output item."""
    return {
        str(_get(i, "call_id"))
        for i in items
        if isinstance(_get(i, "type"), str) and str(_get(i, "type")).endswith("_call_output")
    }


def _inject_chat(messages: list[Any], entries: list[dict[str, Any]]) -> list[Any] | None:
    if not entries:
        return None
    answered = {str(_get(m, "tool_call_id")) for m in messages if _get(m, "role") == "tool"}
    out: list[Any] = []
    changed = False
    for msg in messages:
        out.append(msg)
        if _get(msg, "role") != "assistant":
            continue
        ids = {_get(tc, "id") for tc in _get(msg, "tool_calls") or ()}
        content = _text_of(_get(msg, "content"))
        for e in entries:
            missing = [c for c in e["calls"] if c.get("id") not in ids and c.get("id") not in answered]
            if not missing:
                continue
            anchored = bool(ids & set(e["anchors"])) if e["anchors"] else bool(e["note"]) and e["note"] in content
            if not anchored:
                continue
            restored = dict(msg) if isinstance(msg, dict) else dict(_dump(msg))
            restored["tool_calls"] = [*(_dump(tc) for tc in _get(msg, "tool_calls") or ()), *missing]
            out[-1] = restored
            ids |= {c.get("id") for c in missing}
            out.extend({"role": "tool", "tool_call_id": c["id"], "content": e["refusals"][c["id"]]} for c in missing)
            changed = True
    return out if changed else None


def _inject_response(items: list[Any], entries: list[dict[str, Any]]) -> list[Any] | None:
    present = {str(_get(i, "call_id")) for i in items if _get(i, "type") in _CLIENT_CALL_ITEMS} | _outputs(items)
    out: list[Any] = []
    changed = False
    for item in items:
        out.append(item)
        call_id = _get(item, "call_id")
        is_message = _get(item, "type") in (None, "message") and _get(item, "role") == "assistant"
        for e in entries:
            missing = [c for c in e["calls"] if str(c.get("call_id")) not in present]
            if not missing:
                continue
            if e["anchors"]:
                anchored = call_id in e["anchors"]
            else:
                anchored = is_message and bool(e["note"]) and e["note"] in _text_of(_get(item, "content"))
            if not anchored:
                continue
            for c in missing:
                cid = str(c["call_id"])
                out.append(c)
                out.append({"type": "function_call_output", "call_id": cid, "output": e["refusals"][cid]})
                present.add(cid)
            changed = True
    return out if changed else None


def _wrap_build_request(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def build(self: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        body = getattr(options, "json_data", None)
        ctx = current_context()  # never creates one: this runs for every request, the judge's too
        if isinstance(body, dict) and ctx is not None and _REFUSALS_KEY in ctx.metadata:
            new = _inject_refusals(body)
            if new is not None:
                options = options.model_copy(update={"json_data": new})
        return original(self, options, *args, **kwargs)

    return build


def _settle(kind: str, obj: Any, decided: Decided) -> None:
    if not decided:
        return
    if _settings["on_block"] == "raise" or isinstance(obj, dict) or kind == "run":
        refuse(decided, FRAMEWORK)  # a plain dict (``parse(to=dict)``) or a waiting run is not rewritten
    _rewrite(kind, obj, decided)


def _wrap_parse(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def parse(self: Any, **kwargs: Any) -> Any:
        out = original(self, **kwargs)
        if managed_elsewhere():
            return out
        found = _proposals(out)
        if found is None or id(out) in self.__dict__.get("_agentgate_seen", ()):
            if found is None and _get(out, "object") in _OBSERVE_ONLY:
                _observe_request(getattr(self, "_options", None))
            return out
        _observe_request(getattr(self, "_options", None))
        _settle(found[0], out, decide_all(found[1], FRAMEWORK))
        self.__dict__.setdefault("_agentgate_seen", set()).add(id(out))
        return out

    return parse


def _wrap_aparse(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def parse(self: Any, **kwargs: Any) -> Any:
        out = await original(self, **kwargs)
        if managed_elsewhere():
            return out
        found = _proposals(out)
        if found is None or id(out) in self.__dict__.get("_agentgate_seen", ()):
            if found is None and _get(out, "object") in _OBSERVE_ONLY:
                _observe_request(getattr(self, "_options", None))
            return out
        _observe_request(getattr(self, "_options", None))
        _settle(found[0], out, await adecide_all(found[1], FRAMEWORK))
        self.__dict__.setdefault("_agentgate_seen", set()).add(id(out))
        return out

    return parse


# -- streams ---------------------------------------------------------------------


class _ChatDeltas:
    """Assembles streamed chat tool-call deltas; yields each call once it is complete."""

    __slots__ = ("_calls",)

    def __init__(self) -> None:
        # (choice index, tool index or -1 for legacy function_call) -> [id, name parts, fragments, decided]
        self._calls: dict[tuple[int, int], list[Any]] = {}

    def _slot(self, key: tuple[int, int]) -> list[Any]:
        slot = self._calls.get(key)
        if slot is None:
            slot = self._calls[key] = [None, [], [], False]
        return slot

    def _add(self, key: tuple[int, int], call_id: str | None, fn: Any) -> None:
        slot = self._slot(key)
        if call_id:
            slot[0] = call_id
        if fn is None:
            return
        name, args = fn.name, fn.arguments
        if name:
            slot[1].append(name)
            slot[3] = False
        if args:
            slot[2].append(args)
            slot[3] = False  # more arguments after a decision: decide again

    def _close(self, choice: int | None) -> list[Proposed]:
        ready: list[Proposed] = []
        for (c, t), slot in self._calls.items():
            if slot[3] or (choice is not None and c != choice):
                continue
            slot[3] = True
            call_id = slot[0] or (f"function_call:{c}" if t < 0 else None)
            args = "".join(slot[2])
            # The SDK's own accumulator concatenates name fragments; a loop that keeps
            # the first (or any one) name would run that instead: decide every reading.
            parts: list[str] = slot[1]
            names = dict.fromkeys(["".join(parts), *parts]) if len(parts) > 1 else dict.fromkeys(parts or [""])
            ready.extend(Proposed(name, args, call_id) for name in names)
        return ready

    def feed(self, chunk: Any) -> list[Proposed]:
        """Take one chunk; return the calls it completes (decide them before handing it over)."""
        ready: list[Proposed] = []
        for choice in getattr(chunk, "choices", None) or ():
            delta = choice.delta
            if delta is not None:
                for tc in delta.tool_calls or ():
                    self._add((choice.index, tc.index), tc.id, tc.function)
                if getattr(delta, "function_call", None) is not None:
                    self._add((choice.index, -1), None, delta.function_call)
            if choice.finish_reason is not None:
                ready.extend(self._close(choice.index))
        return ready

    def end(self) -> list[Proposed]:
        """End of stream: whatever was not decided yet (no finish_reason arrived)."""
        return self._close(None)


class _ResponseEvents:
    """Follows streamed Responses events; yields each client-side call once it is complete."""

    __slots__ = ("_decided", "_items", "_partial")

    def __init__(self) -> None:
        self._items: dict[str, Any] = {}  # item id -> the item from output_item.added
        self._partial: dict[str, list[str]] = {}
        self._decided: dict[str, Any] = {}  # item id -> arguments decided

    def _decide_once(self, key: str, call: Proposed) -> list[Proposed]:
        # Keyed on name *and* arguments: an item that turns out to differ from what
        # was decided (a missing ``added`` event, a changed ``done`` item) is decided again.
        seen = (call.name, _dump(call.arguments))
        if self._decided.get(key) == seen:
            return []
        self._decided[key] = seen
        return [call]

    def _from_item(self, item: Any) -> list[Proposed]:
        call = _item_call(item)
        if call is None:
            return []
        return self._decide_once(str(_get(item, "id") or call.call_id), call)

    def feed(self, event: Any) -> list[Proposed]:
        """Take one event; return the calls it completes."""
        kind = getattr(event, "type", None)
        if kind == "response.output_item.added":
            item = event.item
            if _get(item, "type") in _CLIENT_CALL_ITEMS and _get(item, "id"):
                self._items[item.id] = item
            return []
        if kind == "response.function_call_arguments.delta":
            self._partial.setdefault(event.item_id, []).append(event.delta)
            return []
        if kind in ("response.function_call_arguments.done", "response.custom_tool_call_input.done"):
            item = self._items.get(event.item_id)
            name = str(_get(item, "name") or getattr(event, "name", None) or "function_call")
            call_id = _get(item, "call_id") or event.item_id
            if kind == "response.function_call_arguments.done":
                call = Proposed(name, event.arguments, call_id)
            else:
                call = Proposed(name, {"input": event.input}, call_id)
            self._partial.pop(event.item_id, None)
            return self._decide_once(event.item_id, call)
        if kind == "response.output_item.done":
            return self._from_item(event.item)
        if kind in ("response.completed", "response.incomplete", "response.failed"):
            ready: list[Proposed] = []
            for item in getattr(event.response, "output", None) or ():
                ready.extend(self._from_item(item))
            return ready
        return []

    def end(self) -> list[Proposed]:
        """End of stream: calls whose arguments streamed but never completed."""
        ready: list[Proposed] = []
        for item_id, frags in self._partial.items():
            if item_id in self._decided:
                continue
            item = self._items.get(item_id)
            call = Proposed(str(_get(item, "name") or "function_call"), "".join(frags), _get(item, "call_id"))
            ready.extend(self._decide_once(item_id, call))
        return ready


class _RunEvents:
    """Assistants streams: a run's calls arrive whole in ``thread.run.requires_action``."""

    __slots__ = ("_decided",)

    def __init__(self) -> None:
        self._decided: set[tuple[str, str]] = set()

    def feed(self, event: Any) -> list[Proposed]:
        """Take one event; return the calls the run now waits for."""
        if getattr(event, "event", None) != "thread.run.requires_action":
            return []
        ready = []
        for call in _run_calls(event.data):
            key = (str(call.call_id), f"{call.name}\0{call.arguments}")
            if key not in self._decided:
                self._decided.add(key)
                ready.append(call)
        return ready

    def end(self) -> list[Proposed]:
        """Nothing is assembled from pieces here."""
        return []


class _StreamGate:
    """Picks the assembler from the first chunk (chat chunk, Responses event, or neither)."""

    __slots__ = ("_acc", "_known")

    def __init__(self) -> None:
        self._acc: _ChatDeltas | _ResponseEvents | _RunEvents | None = None
        self._known = False

    def feed(self, item: Any) -> list[Proposed]:
        if not self._known:
            if getattr(item, "object", None) == "chat.completion.chunk":
                self._acc, self._known = _ChatDeltas(), True
            elif str(getattr(item, "type", "")).startswith("response."):
                self._acc, self._known = _ResponseEvents(), True
            elif str(getattr(item, "event", "")).startswith("thread."):
                self._acc, self._known = _RunEvents(), True
        return self._acc.feed(item) if self._acc is not None else []

    def end(self) -> list[Proposed]:
        return self._acc.end() if self._acc is not None else []


def _wrap_stream(original: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    return wrap_stream(original, _StreamGate, _observe_request, FRAMEWORK)


def _wrap_astream(original: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    return wrap_astream(original, _StreamGate, _observe_request, FRAMEWORK)
