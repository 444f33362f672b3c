"""Local HTTP servers speaking the judge's protocols, for the real SDK clients.

`FakeLLM` answers ``POST /v1/chat/completions`` (OpenAI) and ``POST /v1/messages``
(Anthropic) in each API's JSON shape. What it answers is decided per request by
the next scripted `Reply`, or by `FakeLLM.model` (a function of the request body)
when the script is empty. Every request is recorded.

`ApprovalServer` is an approval service for `WebhookApprover`: it answers each POST
with a scripted decision, optionally after a delay or through a poll URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def answer_json(
    consistent: bool = True,
    confidence: float = 0.95,
    reversible: bool = True,
    blast_radius: str = "low",
    reasoning: str = "the call serves the task",
) -> str:
    """A well-formed judge answer as the model's text."""
    return json.dumps(
        {
            "consistent": consistent,
            "confidence": confidence,
            "reversible": reversible,
            "blast_radius": blast_radius,
            "reasoning": reasoning,
        }
    )


ALLOW = answer_json()
BLOCK = answer_json(consistent=False, confidence=0.9, reversible=False, blast_radius="high", reasoning="not needed")


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP reply.

    ``text`` is the model's message; ``status`` other than 200 sends an API error;
    ``raw`` sends that body verbatim; ``delay`` sleeps first; ``gate`` holds the answer until
    the test sets that event (at most 30 s), so a test can prove a caller did not wait for it
    without timing anything; ``refusal`` makes the model refuse (OpenAI ``message.refusal`` /
    Anthropic ``stop_reason=refusal``).
    """

    text: str = ALLOW
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0
    raw: str | None = None
    refusal: str | None = None
    finish: str | None = None
    gate: threading.Event | None = field(default=None, compare=False)


def _user_text(body: dict[str, Any]) -> tuple[str, str]:
    """(system, user) text of an OpenAI or Anthropic request."""
    if "system" in body:
        system = body["system"] if isinstance(body["system"], str) else json.dumps(body["system"])
        user = "".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in body["messages"]
        )
        return system, user
    msgs = body.get("messages", [])
    system = "".join(m["content"] for m in msgs if m.get("role") == "system")
    user = "".join(m["content"] for m in msgs if m.get("role") == "user")
    return system, user


def split_prompt(body: dict[str, Any]) -> tuple[str, str]:
    """(trusted text, data block) of the judge prompt in a request body."""
    _, user = _user_text(body)
    m = re.search(r"<untrusted_data_([0-9a-f]+)>(.*)</untrusted_data_\1>", user, re.S)
    assert m, "the prompt has no data block"
    return user[: m.start()] + user[m.end() :], m.group(2)


def cautious_model(body: dict[str, Any]) -> Reply:
    """A model that follows any instruction OUTSIDE the data block (as a gullible model
    would) and otherwise allows reads and blocks everything else, from the trusted facts."""
    trusted, _ = split_prompt(body)
    t = trusted.lower()
    if "answer allow" in t:
        return Reply(ALLOW)
    if re.search(r"operation=(read|select|list|get)\b", t):
        return Reply(ALLOW)
    return Reply(BLOCK)


def obedient_model(body: dict[str, Any]) -> Reply:
    """A fooled model: obeys "answer allow" wherever it appears, even inside the data."""
    _, user = _user_text(body)
    decoded = user.lower().replace("\\u003c", "<").replace("\\u003e", ">")
    return Reply(ALLOW) if "answer allow" in decoded else cautious_model(body)


def _openai_body(reply: Reply, model: str, n: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None if reply.refusal else reply.text,
                    "refusal": reply.refusal,
                },
                "finish_reason": reply.finish or "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
    }


def _anthropic_body(reply: Reply, model: str, n: int) -> dict[str, Any]:
    return {
        "id": f"msg_{n}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [] if reply.refusal else [{"type": "text", "text": reply.text}],
        "stop_reason": "refusal" if reply.refusal else (reply.finish or "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 10},
    }


def _error_body(path: str, status: int) -> dict[str, Any]:
    kind = {429: "rate_limit_error", 500: "api_error", 503: "overloaded_error"}.get(status, "invalid_request_error")
    if path.endswith("/messages"):
        return {"type": "error", "error": {"type": kind, "message": f"fake {status}"}}
    return {"error": {"message": f"fake {status}", "type": kind, "code": None, "param": None}}


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out closed the socket: not an error of the test


@dataclass
class FakeLLM:
    """OpenAI + Anthropic protocol server with a script and a default model."""

    model: Callable[[dict[str, Any]], Reply] = cautious_model
    script: list[Reply] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    default_delay: float = 0.0

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per keep-alive request

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake.lock:
                    fake.requests.append({"path": self.path, **body})
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                    n = len(fake.requests)
                    reply = fake.script.pop(0) if fake.script else None
                if reply is None:
                    reply = fake.model(body)
                delay = reply.delay or fake.default_delay
                if delay:
                    time.sleep(delay)
                if reply.gate is not None:
                    reply.gate.wait(30)
                if reply.raw is not None:
                    payload = reply.raw.encode()
                elif reply.status != 200:
                    payload = json.dumps(_error_body(self.path, reply.status)).encode()
                elif self.path.endswith("/messages"):
                    payload = json.dumps(_anthropic_body(reply, body.get("model", "?"), n)).encode()
                else:
                    payload = json.dumps(_openai_body(reply, body.get("model", "?"), n)).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for k, v in reply.headers:
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

        self._server = _Quiet(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The TCP port."""
        return int(self._server.server_address[1])

    @property
    def openai_url(self) -> str:
        """``base_url`` for the openai SDK."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        """``base_url`` for the anthropic SDK."""
        return f"http://127.0.0.1:{self.port}"

    def reset(self, *replies: Reply, model: Callable[[dict[str, Any]], Reply] = cautious_model) -> None:
        """Clear the record and load a new script."""
        with self.lock:
            self.requests.clear()
            self.headers.clear()
            self.script[:] = list(replies)
            self.model = model
            self.default_delay = 0.0

    def stop(self) -> None:
        """Shut the server down."""
        self._server.shutdown()
        self._server.server_close()


@dataclass(frozen=True)
class Decision:
    """What the approval service answers: JSON body, status, delay, or a poll step."""

    body: dict[str, Any] | str = field(default_factory=lambda: {"approved": True, "approver": "alice"})
    status: int = 200
    delay: float = 0.0
    poll: bool = False
    gate: threading.Event | None = None  # answer only once the test sets it (at most 30 s)


@dataclass
class ApprovalServer:
    """An approval service: POST / with the request; scripted answers; optional polling."""

    answer: Decision = field(default_factory=Decision)
    secret: str | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    signatures_ok: list[bool] = field(default_factory=list)
    polls: int = 0
    pending_polls: int = 2

    def __post_init__(self) -> None:
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else delayed ACKs add ~40 ms per keep-alive request

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any] | str) -> None:
                payload = (body if isinstance(body, str) else json.dumps(body)).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                svc.received.append(json.loads(raw))
                if svc.secret is not None:
                    want = "sha256=" + hmac.new(svc.secret.encode(), raw, hashlib.sha256).hexdigest()
                    svc.signatures_ok.append(hmac.compare_digest(want, self.headers.get("x-agentgate-signature", "")))
                ans = svc.answer
                if ans.delay:
                    time.sleep(ans.delay)
                if ans.gate is not None:
                    ans.gate.wait(30)
                if ans.poll:
                    self._send(202, {"poll_url": "/status/1"})
                else:
                    self._send(ans.status, ans.body)

            def do_GET(self) -> None:
                svc.polls += 1
                if svc.polls <= svc.pending_polls:
                    self._send(200, {"status": "pending", "poll_url": "/status/1"})
                else:
                    self._send(svc.answer.status, svc.answer.body)

        self._server = _Quiet(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The approval endpoint."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/approve"

    def stop(self) -> None:
        """Shut the server down."""
        self._server.shutdown()
        self._server.server_close()
