"""The judge's timeout is a total deadline, and its response bodies are capped (sync and async)."""

from __future__ import annotations

import contextlib
import json
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from agentgate._decision import VerdictType
from agentgate._escalation import Escalator
from agentgate.judge import AnthropicJudge, OpenAIJudge
from agentgate.judge.base import LLMJudge

from .conftest import MakeReq
from .servers import Reply, _anthropic_body, _openai_body


class SlowServer:
    """Answers every request with a valid ALLOW, sent in a way a per-read timeout never catches.

    ``mode``: ``body`` (headers at once, then the body one byte per ``interval``), ``headers``
    (the status line and headers one byte per ``interval``), ``huge`` (a body of ``size``
    bytes at full speed, with a content-length) or ``chunked`` (the same without one).
    The trickle stops as soon as `stop` is set, so no test waits for it to finish.
    """

    def __init__(self, mode: str, *, interval: float = 0.5, padding: int = 40, size: int = 5_000_000) -> None:
        self.stop = threading.Event()
        self.started = threading.Event()
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                headers, _, rest = head.partition(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in headers.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                while len(rest) < length:
                    rest += self.request.recv(65536)
                path = headers.split(b" ")[1].decode()
                body = _anthropic_body(Reply(), "m", 1) if path.endswith("/messages") else _openai_body(Reply(), "m", 1)
                server.started.set()
                with contextlib.suppress(OSError):  # the client gave up: that is the point
                    server.answer(self.wfile, json.dumps(body).encode())

        self._mode, self._interval, self._padding, self._size = mode, interval, padding, size
        self._tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._tcp.daemon_threads = True
        threading.Thread(target=self._tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def answer(self, out: Any, payload: bytes) -> None:
        if self._mode in ("body", "headers"):
            body = b" " * self._padding + payload  # leading whitespace: still a valid JSON body
            head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)
            if self._mode == "body":
                out.write(head)
                out.flush()
                self._trickle(out, body)
            else:
                self._trickle(out, head)
                out.write(body)
            return
        big = b" " * self._size + payload
        if self._mode == "huge":
            out.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(big))
            out.write(big)
            return
        out.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
        for i in range(0, len(big), 65536):
            part = big[i : i + 65536]
            out.write(b"%x\r\n%s\r\n" % (len(part), part))
        out.write(b"0\r\n\r\n")

    def _trickle(self, out: Any, data: bytes) -> None:
        for i in range(len(data)):
            if self.stop.wait(self._interval):
                return
            out.write(data[i : i + 1])
            out.flush()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._tcp.server_address[1]}"

    def close(self) -> None:
        self.stop.set()
        self._tcp.shutdown()
        self._tcp.server_close()


def _judge(provider: str, server: SlowServer, timeout: float) -> LLMJudge:
    if provider == "openai":
        return OpenAIJudge("gpt-test", base_url=server.url + "/v1", timeout=timeout, max_retries=0)
    return AnthropicJudge("claude-test", base_url=server.url, timeout=timeout, max_retries=0)


@pytest.fixture
def slow() -> Iterator[list[SlowServer]]:
    """Servers made by the test; stopped afterwards."""
    made: list[SlowServer] = []
    yield made
    for s in made:
        s.close()


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("mode", ["body", "headers"])
def test_trickling_server_blocks_within_the_deadline_sync(
    provider: str, mode: str, slow: list[SlowServer], make_req: MakeReq
) -> None:
    """A server trickling a valid ALLOW one byte per 0.5 s: the sync review ends at its deadline, BLOCK."""
    server = SlowServer(mode)
    slow.append(server)
    out = Escalator(_judge(provider, server, timeout=1.5)).resolve(make_req())
    assert server.started.is_set()
    assert out.action is VerdictType.BLOCK
    assert "timeout" in out.reasoning
    assert not server.stop.is_set()  # the trickle was still going: the late ALLOW was never read


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
@pytest.mark.parametrize("mode", ["body", "headers"])
async def test_trickling_server_blocks_within_the_deadline_async(
    provider: str, mode: str, slow: list[SlowServer], make_req: MakeReq
) -> None:
    """The async path: the same trickle ends in BLOCK at the deadline."""
    server = SlowServer(mode)
    slow.append(server)
    out = await Escalator(_judge(provider, server, timeout=1.5)).aresolve(make_req())
    assert out.action is VerdictType.BLOCK
    assert "timeout" in out.reasoning


@pytest.mark.parametrize("mode", ["huge", "chunked"])
def test_oversized_response_is_a_judge_failure_sync(mode: str, slow: list[SlowServer], make_req: MakeReq) -> None:
    """A 5 MB answer (declared or chunked) is not read whole: the review fails and blocks."""
    server = SlowServer(mode)
    slow.append(server)
    out = Escalator(_judge("openai", server, timeout=30.0)).resolve(make_req())
    assert out.action is VerdictType.BLOCK
    assert "1000000 bytes" in out.reasoning or "more than 1000000" in out.reasoning


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_oversized_response_is_a_judge_failure_async(
    provider: str, slow: list[SlowServer], make_req: MakeReq
) -> None:
    """The async path caps bodies too."""
    server = SlowServer("chunked")
    slow.append(server)
    out = await Escalator(_judge(provider, server, timeout=30.0)).aresolve(make_req())
    assert out.action is VerdictType.BLOCK
    assert "1000000 bytes" in out.reasoning


def test_a_normal_answer_within_the_deadline_still_allows(slow: list[SlowServer], make_req: MakeReq) -> None:
    """The benign twin: a small body trickled well inside the deadline is read and obeyed."""
    server = SlowServer("body", interval=0.01, padding=3)
    slow.append(server)
    out = Escalator(_judge("openai", server, timeout=30.0)).resolve(make_req())
    assert out.action is VerdictType.ALLOW
