"""A scripted model behind a real HTTP server speaking the OpenAI and Anthropic protocols.

The real SDKs are pointed at it with ``base_url``. Each request pops the next
`Turn` of the script and answers it in the shape of the endpoint it came to:

* ``POST /v1/chat/completions``: JSON, or SSE chunks (``stream: true``) with the
  tool call's arguments split across several deltas;
* ``POST /v1/responses``: JSON, or the Responses event stream
  (``output_item.added`` → ``function_call_arguments.delta``… → ``.done`` →
  ``output_item.done`` → ``response.completed``);
* ``POST /v1/messages``: JSON, or the Messages event stream
  (``content_block_start`` → ``input_json_delta``… → ``content_block_stop``).

Every request body is kept in ``requests`` so tests can see what the agent sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Turn:
    """One model reply: optional text, then tool calls ``(name, arguments)``."""

    text: str | None = None
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()


@dataclass
class ScriptedLLM:
    """The script and what was received; shared by the handler threads."""

    turns: list[Turn] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def next(self, path: str, body: dict[str, Any]) -> tuple[Turn, int]:
        with self.lock:
            self.requests.append({"path": path, **body})
            self.counter += 1
            turn = self.turns.pop(0) if self.turns else Turn(text="done")
            return turn, self.counter


def _split(text: str, parts: int = 3) -> list[str]:
    step = max(1, len(text) // parts)
    return [text[i : i + step] for i in range(0, len(text), step)] or [""]


# -- chat completions ---------------------------------------------------------------


def chat_json(turn: Turn, n: int) -> dict[str, Any]:
    calls = [
        {"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(turn.tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": turn.text, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "scripted",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop", "logprobs": None}
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def chat_chunks(turn: Turn, n: int) -> Iterator[dict[str, Any]]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{n}",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "scripted",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    yield chunk({"role": "assistant", "content": ""})
    if turn.text:
        for piece in _split(turn.text):
            yield chunk({"content": piece})
    for i, (name, args) in enumerate(turn.tool_calls):
        yield chunk(
            {
                "tool_calls": [
                    {"index": i, "id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": ""}}
                ]
            }
        )
        for piece in _split(json.dumps(args)):
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
    yield chunk({}, "tool_calls" if turn.tool_calls else "stop")
    yield {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "scripted",
        "choices": [],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


# -- responses ----------------------------------------------------------------------


def _response(n: int, output: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {
        "id": f"resp_{n}",
        "object": "response",
        "created_at": 1700000000,
        "model": "scripted",
        "status": status,
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": 1.0,
        "top_p": 1.0,
        "usage": {
            "input_tokens": 1,
            "output_tokens": 1,
            "total_tokens": 2,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 0},
        },
    }


def _message_item(n: int, text: str) -> dict[str, Any]:
    return {
        "type": "message",
        "id": f"msg_{n}",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def _fc_item(n: int, i: int, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": f"fc_{n}_{i}",
        "call_id": f"call_{n}_{i}",
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def responses_json(turn: Turn, n: int) -> dict[str, Any]:
    output = [_message_item(n, turn.text)] if turn.text else []
    output += [_fc_item(n, i, name, json.dumps(args)) for i, (name, args) in enumerate(turn.tool_calls)]
    return _response(n, output)


def responses_events(turn: Turn, n: int) -> Iterator[dict[str, Any]]:
    seq = iter(range(1_000_000))
    yield {"type": "response.created", "sequence_number": next(seq), "response": _response(n, [], "in_progress")}
    output: list[dict[str, Any]] = []
    if turn.text:
        item = _message_item(n, turn.text)
        yield {"type": "response.output_item.added", "sequence_number": next(seq), "output_index": 0, "item": item}
        yield {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": 0, "item": item}
        output.append(item)
    for i, (name, args) in enumerate(turn.tool_calls):
        idx = len(output)
        text = json.dumps(args)
        yield {
            "type": "response.output_item.added",
            "sequence_number": next(seq),
            "output_index": idx,
            "item": _fc_item(n, i, name, "", "in_progress"),
        }
        for piece in _split(text):
            yield {
                "type": "response.function_call_arguments.delta",
                "sequence_number": next(seq),
                "output_index": idx,
                "item_id": f"fc_{n}_{i}",
                "delta": piece,
            }
        yield {
            "type": "response.function_call_arguments.done",
            "sequence_number": next(seq),
            "output_index": idx,
            "item_id": f"fc_{n}_{i}",
            "arguments": text,
        }
        item = _fc_item(n, i, name, text)
        yield {"type": "response.output_item.done", "sequence_number": next(seq), "output_index": idx, "item": item}
        output.append(item)
    yield {"type": "response.completed", "sequence_number": next(seq), "response": _response(n, output)}


# -- anthropic messages -------------------------------------------------------------


def messages_json(turn: Turn, n: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": turn.text}] if turn.text else []
    content += [
        {"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": args}
        for i, (name, args) in enumerate(turn.tool_calls)
    ]
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": "scripted",
        "content": content,
        "stop_reason": "tool_use" if turn.tool_calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 1},
    }


def messages_events(turn: Turn, n: int) -> Iterator[dict[str, Any]]:
    start = messages_json(Turn(), n) | {"content": [], "stop_reason": None}
    yield {"type": "message_start", "message": start}
    index = 0
    if turn.text:
        yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        for piece in _split(turn.text):
            yield {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
        yield {"type": "content_block_stop", "index": index}
        index += 1
    for i, (name, args) in enumerate(turn.tool_calls):
        yield {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "tool_use", "id": f"toolu_{n}_{i}", "name": name, "input": {}},
        }
        for piece in _split(json.dumps(args)):
            yield {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
        yield {"type": "content_block_stop", "index": index}
        index += 1
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use" if turn.tool_calls else "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 1},
    }
    yield {"type": "message_stop"}


# -- assistants (threads / runs) ------------------------------------------------------


def run_json(turn: Turn, n: int, thread_id: str, status: str | None = None) -> dict[str, Any]:
    calls = [
        {"id": f"call_{n}_{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
        for i, (name, args) in enumerate(turn.tool_calls)
    ]
    run: dict[str, Any] = {
        "id": f"run_{n}",
        "object": "thread.run",
        "created_at": 1700000000,
        "assistant_id": "asst_1",
        "thread_id": thread_id,
        "model": "scripted",
        "instructions": "",
        "tools": [],
        "parallel_tool_calls": True,
        "status": status or ("requires_action" if calls else "completed"),
        "required_action": None,
    }
    if calls and run["status"] == "requires_action":
        run["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}}
    return run


def run_events(turn: Turn, n: int, thread_id: str) -> Iterator[dict[str, Any]]:
    yield {"type": "thread.run.created", **run_json(turn, n, thread_id, "queued")}
    final = run_json(turn, n, thread_id)
    yield {"type": "thread.run.requires_action" if turn.tool_calls else "thread.run.completed", **final}


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0]
        if "/threads/" in path and path.endswith("/messages"):
            self.server.script.requests.append({"path": path, **body})
            thread_id = path.split("/threads/")[1].split("/")[0]
            self._answer(
                {
                    "id": "msg_1",
                    "object": "thread.message",
                    "thread_id": thread_id,
                    "role": body.get("role"),
                    "content": [],
                    "created_at": 0,
                    "status": "completed",
                },
                False,
                named=False,
            )
            return
        turn, n = self.server.script.next(path, body)
        stream = bool(body.get("stream"))
        if path.endswith("/chat/completions"):
            self._answer(chat_chunks(turn, n) if stream else chat_json(turn, n), stream, named=False)
        elif path.endswith("/responses"):
            self._answer(responses_events(turn, n) if stream else responses_json(turn, n), stream, named=True)
        elif "/threads/" in path and path.endswith(("/runs", "/submit_tool_outputs")):
            thread_id = path.split("/threads/")[1].split("/")[0]
            self._answer(run_events(turn, n, thread_id) if stream else run_json(turn, n, thread_id), stream, named=True)
        elif path.endswith("/messages"):
            self._answer(messages_events(turn, n) if stream else messages_json(turn, n), stream, named=True)
        else:
            self.send_error(404)

    def _answer(self, payload: Any, stream: bool, *, named: bool) -> None:
        if not stream:
            data = json.dumps(payload).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        parts = []
        assistants = False
        for event in payload:
            if str(event.get("type", "")).startswith("thread."):  # assistants: the type is the SSE event only
                assistants = True
                kind = event.pop("type")
                parts.append(f"event: {kind}\ndata: {json.dumps(event)}\n\n")
                continue
            head = f"event: {event['type']}\n" if named else ""
            parts.append(f"{head}data: {json.dumps(event)}\n\n")
        if not named:
            parts.append("data: [DONE]\n\n")
        if assistants:
            parts.append("event: done\ndata: [DONE]\n\n")
        data = "".join(parts).encode()
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    script: ScriptedLLM


class LLMServer:
    """Start/stop the scripted server on 127.0.0.1 (a free port)."""

    def __init__(self) -> None:
        self.script = ScriptedLLM()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.script = self.script
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """The OpenAI-style base URL (``…/v1``)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def root_url(self) -> str:
        """The Anthropic-style base URL (the SDK adds ``/v1/messages``)."""
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def load(self, *turns: Turn) -> None:
        """Replace the script."""
        with self.script.lock:
            self.script.turns[:] = list(turns)
            self.script.requests.clear()

    def start(self) -> LLMServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
