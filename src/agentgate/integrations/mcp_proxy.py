"""A stdio proxy between any MCP client and server that enforces policy on ``tools/call``.

``agentgate mcp-proxy [--config agentgate.yaml] -- <server command...>`` runs as
the server command a client (Claude Desktop, Cursor, ...) starts. It spawns the
real server and copies newline-delimited JSON-RPC both ways:

* server → client: every line, byte for byte (a result of an allowed call is
  also read to record it in the agent's history);
* client → server: every line byte for byte, except ``tools/call`` requests the
  firewall denies. Those never reach the server; the proxy answers them itself
  with a ``CallToolResult`` whose ``isError`` is true and whose text says what
  was blocked and why (the model reads it and can recover), or with a JSON-RPC
  error when started with ``deny_as="error"``.

Every decision goes to the default firewall's audit trail.

Fail-closed parsing: a client line that is not valid JSON, or that repeats a key
(``{"name": "read_file", "name": "delete_file"}`` is read differently by
different parsers) is not forwarded; the proxy answers it with a JSON-RPC error
itself. A batch (JSON array) is forwarded without its denied calls, which are
answered in a batch of their own.

The decision runs on the client→server path, so a call waiting for the tier-2
judge delays the messages behind it (the server keeps talking to the client).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from agentgate._context import AgentContext, _use_context
from agentgate._errors import FirewallBlockedError

from ._common import aguard_call, guard_call
from .mcp import blocked_result, result_text

__all__ = ["DENY_AS", "McpProxy", "http_proxy_app", "run_http_proxy", "run_proxy"]

logger = logging.getLogger("agentgate.mcp_proxy")

DENY_AS = ("result", "error")
_FRAMEWORK = "mcp-proxy"
#: JSON-RPC error codes the proxy answers with.
PARSE_ERROR, INVALID_REQUEST, INTERNAL_ERROR, BLOCKED = -32700, -32600, -32603, -32001


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _encode(message: Any) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _error(msg_id: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        err["data"] = data
    return {"jsonrpc": "2.0", "id": msg_id, "error": err}


@dataclass
class McpProxy:
    """The message logic of the proxy, separate from the pipes (so it can be tested directly).

    Args:
        deny_as: ``"result"`` (default): a denied call gets an ``isError`` tool
            result; ``"error"``: a JSON-RPC error.
        agent: The `AgentContext` decisions are made in (``--agent`` selects the
            agent policy in agentgate.yaml).
    """

    deny_as: str = "result"
    agent: AgentContext = field(default_factory=AgentContext)
    # request id (as JSON text) -> decision id, for allowed calls awaiting their result
    _awaiting: dict[str, str] = field(default_factory=dict)
    _results: queue.SimpleQueue[tuple[str, Any]] = field(default_factory=queue.SimpleQueue)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if self.deny_as not in DENY_AS:
            raise ValueError(f"deny_as must be one of {DENY_AS}, not {self.deny_as!r}")

    # -- client → server ---------------------------------------------------------

    def from_client(self, line: bytes) -> tuple[bytes | None, bytes | None]:
        """Inspect one client line: ``(bytes to forward to the server, bytes to answer the client)``."""
        if not line.strip():
            return line, None
        try:
            message = json.loads(line, object_pairs_hook=_no_duplicates)
        except _DuplicateKeyError as e:
            return None, _encode(_error(_loose_id(line), INVALID_REQUEST, f"AgentGate: duplicate JSON key {e}"))
        except ValueError:
            return None, _encode(_error(None, PARSE_ERROR, "AgentGate: not valid JSON"))
        if isinstance(message, list):
            return self._batch(message)
        answer = self._decide(message)
        if answer is None:
            return line, None
        return None, (_encode(answer) if answer else None)

    def _batch(self, messages: list[Any]) -> tuple[bytes | None, bytes | None]:
        forward, answers = [], []
        for message in messages:
            answer = self._decide(message)
            if answer is None:
                forward.append(message)
            elif answer:
                answers.append(answer)
        return (_encode(forward) if forward else None), (_encode(answers) if answers else None)

    def _inspect(self, message: Any) -> tuple[Any, str, Any] | dict[str, Any] | None:
        """None: not a tool call (forward). A dict: the answer, decided already. A tuple: ``(id, name, arguments)``."""
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        msg_id = message.get("id")
        params = message.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            if msg_id is None:
                return {}
            return _error(msg_id, INVALID_REQUEST, "AgentGate: tools/call without a tool name")
        self._apply_results()
        return msg_id, params["name"], params.get("arguments") or {}

    def _blocked(self, msg_id: Any, name: str, exc: FirewallBlockedError) -> dict[str, Any]:
        logger.info("blocked tools/call %s: %s", name, exc.verdict.reasoning)
        if msg_id is None:
            return {}  # a notification cannot be answered; it is simply not delivered
        if self.deny_as == "error":
            v = exc.verdict
            data = {"decision_id": v.decision_id, "rule": v.policy_name, "severity": v.severity.value}
            return _error(msg_id, BLOCKED, f"AgentGate blocked {name}: {v.reasoning}", data)
        return {"jsonrpc": "2.0", "id": msg_id, "result": blocked_result(exc, name)}

    def _allowed(self, msg_id: Any, decision_id: str) -> None:
        if msg_id is not None:
            with self._lock:
                self._awaiting[_key(msg_id)] = decision_id

    def _decide(self, message: Any) -> dict[str, Any] | None:
        """None to forward *message*; else the answer (``{}``: drop silently)."""
        found = self._inspect(message)
        if not isinstance(found, tuple):
            return found
        msg_id, name, arguments = found
        try:
            with _use_context(self.agent):
                verdict = guard_call(name, arguments, framework=_FRAMEWORK, call_id=_key(msg_id))
        except FirewallBlockedError as exc:
            return self._blocked(msg_id, name, exc)
        self._allowed(msg_id, verdict.decision_id)
        return None

    async def _adecide(self, message: Any) -> dict[str, Any] | None:
        """Async twin of `_decide` (the judge is awaited, the event loop never blocks)."""
        found = self._inspect(message)
        if not isinstance(found, tuple):
            return found
        msg_id, name, arguments = found
        try:
            with _use_context(self.agent):
                verdict = await aguard_call(name, arguments, framework=_FRAMEWORK, call_id=_key(msg_id))
        except FirewallBlockedError as exc:
            return self._blocked(msg_id, name, exc)
        self._allowed(msg_id, verdict.decision_id)
        return None

    async def from_http_body(self, body: bytes) -> tuple[int, bytes | None]:
        """Inspect a POSTed HTTP body: ``(0, None)`` to forward it unchanged, else ``(status, answer)``.

        Over HTTP one POST gets one response, which cannot merge the proxy's
        answers with the server's: a batch holding a denied call is answered
        whole by the proxy (its other members get an error asking to resend them
        one by one).
        """
        try:
            message = json.loads(body, object_pairs_hook=_no_duplicates)
        except _DuplicateKeyError as e:
            return 400, _encode(_error(_loose_id(body), INVALID_REQUEST, f"AgentGate: duplicate JSON key {e}"))
        except ValueError:
            return 400, _encode(_error(None, PARSE_ERROR, "AgentGate: not valid JSON"))
        if not isinstance(message, list):
            answer = await self._adecide(message)
            if answer is None:
                return 0, None
            return (200, _encode(answer)) if answer else (202, None)
        answers = [await self._adecide(m) for m in message]
        if all(a is None for a in answers):
            return 0, None
        out = []
        for m, a in zip(message, answers, strict=True):
            if a:
                out.append(a)
            elif a is None and isinstance(m, dict) and m.get("id") is not None:
                out.append(_error(m["id"], INVALID_REQUEST, "AgentGate: batch held a denied call; send this one alone"))
        return (200, _encode(out)) if out else (202, None)

    # -- server → client -----------------------------------------------------------

    def from_server(self, line: bytes) -> bytes:
        """Pass a server line through unchanged, noting results of allowed calls."""
        if self._awaiting and b'"result"' in line:
            try:
                message = json.loads(line)
            except ValueError:
                return line
            for m in message if isinstance(message, list) else (message,):
                if isinstance(m, dict) and "result" in m:
                    with self._lock:
                        decision_id = self._awaiting.pop(_key(m.get("id")), None)
                    if decision_id is not None:
                        self._results.put((decision_id, result_text(m["result"])))
        return line

    def _apply_results(self) -> None:
        # Results arrive on the server thread; the history is only touched here, on the client thread.
        while True:
            try:
                decision_id, result = self._results.get_nowait()
            except queue.Empty:
                return
            self.agent.record_result(decision_id, result)

    def flush_results(self) -> None:
        """Record every result received so far (called at the end of a session)."""
        self._apply_results()


def _key(msg_id: Any) -> str:
    return json.dumps(msg_id)


def _loose_id(line: bytes) -> Any:
    # Best effort for an error reply to a message we refuse to interpret.
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message.get("id") if isinstance(message, dict) and isinstance(message.get("id"), (int, str)) else None


def _guarded(inspect: Any, line: bytes) -> tuple[bytes | None, bytes | None]:
    """`McpProxy.from_client`, turning an internal failure into an error reply (never a forward)."""
    try:
        result: tuple[bytes | None, bytes | None] = inspect(line)
    except Exception:
        logger.exception("agentgate mcp-proxy: could not decide a message; it was not forwarded")
        return None, _encode(
            _error(_loose_id(line), INTERNAL_ERROR, "AgentGate: internal error; message not forwarded")
        )
    return result


def run_proxy(
    command: Sequence[str],
    *,
    deny_as: str = "result",
    agent: AgentContext | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    handle_signals: bool = False,
    stop_timeout: float = 10.0,
) -> int:
    """Run the proxy until the server exits or the client closes stdin; returns the server's exit code.

    The default firewall (configure it first, e.g. ``protect_all(config=..., frameworks=[])``)
    decides every ``tools/call``. The server's stderr is inherited.

    With ``handle_signals`` (the CLI; main thread only) SIGTERM and SIGINT stop the session:
    the server is terminated (killed after ``stop_timeout`` seconds) and ``128 + signum`` is
    returned. The handlers only write a byte to a pipe the main thread waits on, so a signal
    can never interrupt firewall or audit code halfway through a lock, and it is seen however
    busy the pump threads are.
    """
    if not command:
        raise ValueError("mcp-proxy needs the server command after --")
    proxy = McpProxy(deny_as=deny_as, agent=agent or AgentContext(agent_id="", task_id="mcp-proxy"))
    inp = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout.buffer
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    previous: dict[int, Any] = {}
    try:
        if handle_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, lambda n, _f: _wake(wake_w, n))
        proc = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        return _pump(proc, proxy, inp, out, wake_r, wake_w, stop_timeout)
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)
        os.close(wake_r)
        os.close(wake_w)


_SERVER_DONE = 0  # the byte the server pump writes when the server's stdout ends (no signal is 0)


def _wake(fd: int, what: int) -> None:
    # Async-signal-safe enough for Python: one byte to a non-blocking pipe; a full pipe already wakes.
    with contextlib.suppress(OSError):
        os.write(fd, bytes([what]))


def _pump(
    proc: subprocess.Popen[bytes],
    proxy: McpProxy,
    inp: IO[bytes],
    out: IO[bytes],
    wake_r: int,
    wake_w: int,
    stop_timeout: float,
) -> int:
    assert proc.stdin is not None
    assert proc.stdout is not None
    server_in, server_out = proc.stdin, proc.stdout
    out_lock = threading.Lock()

    def to_client(data: bytes) -> None:
        with out_lock:
            out.write(data)
            out.flush()

    def client_to_server() -> None:
        try:
            for line in iter(inp.readline, b""):
                forward, answer = _guarded(proxy.from_client, line)
                if forward is not None:
                    server_in.write(forward)
                    server_in.flush()
                if answer is not None:
                    to_client(answer)
        except (BrokenPipeError, ValueError, OSError):
            pass  # the server went away; its exit ends the session
        finally:
            with contextlib.suppress(OSError):
                server_in.close()

    def server_to_client() -> None:
        try:
            for line in iter(server_out.readline, b""):
                to_client(proxy.from_server(line))
        except (BrokenPipeError, ValueError, OSError):
            pass  # the client went away
        finally:
            _wake(wake_w, _SERVER_DONE)

    threading.Thread(target=client_to_server, name="agentgate-mcp-client", daemon=True).start()
    pump = threading.Thread(target=server_to_client, name="agentgate-mcp-server", daemon=True)
    pump.start()
    why = os.read(wake_r, 1)  # the server's output ended, or a signal arrived
    stopped_by = why[0] if why else _SERVER_DONE
    if stopped_by != _SERVER_DONE:
        logger.info("signal %d: stopping the server", stopped_by)
        with contextlib.suppress(OSError):
            proc.terminate()  # its stdout closes and the server pump ends
        pump.join(stop_timeout)
        if pump.is_alive():  # a server that ignores SIGTERM (or a child holding its stdout)
            with contextlib.suppress(OSError):
                proc.kill()
            pump.join(stop_timeout)
    proxy.flush_results()
    try:
        code = proc.wait(timeout=stop_timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait()
    return 128 + stopped_by if stopped_by else code


# -- Streamable HTTP ---------------------------------------------------------------------

# Headers that describe one hop, not the message; never copied across the proxy.
# ``accept-encoding`` is dropped too so the server answers in clear text the
# proxy can read (to record results); bodies are still passed unchanged.
_HOP_REQUEST = frozenset(
    {
        b"host",
        b"connection",
        b"keep-alive",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"accept-encoding",
    }
)
_HOP_RESPONSE = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"trailer", b"transfer-encoding", b"upgrade"}
)
_MAX_SCAN = 8 * 1024 * 1024


class _ResultScanner:
    """Reads the server's answers (JSON or SSE) as they stream through, to record tool results."""

    __slots__ = ("_buf", "_proxy", "_sse")

    def __init__(self, proxy: McpProxy, content_type: str) -> None:
        self._proxy = proxy
        self._sse = content_type.startswith("text/event-stream")
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> None:
        if not self._proxy._awaiting:
            return
        self._buf += chunk
        if self._sse:
            *lines, rest = bytes(self._buf).split(b"\n")
            self._buf = bytearray(rest)
            for line in lines:
                if line.startswith(b"data:"):
                    self._proxy.from_server(line[5:].strip())
        elif len(self._buf) > _MAX_SCAN:
            self._buf.clear()  # too big to hold for a history entry; the bytes still flow

    def end(self) -> None:
        if self._buf and not self._sse:
            self._proxy.from_server(bytes(self._buf))
        self._buf.clear()


async def _read_body(receive: Any) -> bytes:
    body = bytearray()
    while True:
        event = await receive()
        if event["type"] == "http.disconnect":
            break
        body += event.get("body", b"")
        if not event.get("more_body"):
            break
    return bytes(body)


async def _reply(send: Any, status: int, body: bytes | None) -> None:
    headers = [(b"content-type", b"application/json")] if body else []
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body or b""})


def http_proxy_app(upstream: str, *, deny_as: str = "result", agent: AgentContext | None = None) -> Any:
    """An ASGI app proxying the MCP Streamable HTTP transport to *upstream* (the server's origin).

    Requests keep their path and query (``http://proxy/mcp`` → ``<upstream origin>/mcp``).
    A POSTed ``tools/call`` the firewall denies is answered by the proxy; everything
    else, including SSE streams and session headers, is relayed unchanged.
    """
    import httpx

    origin = upstream.rstrip("/")
    proxy = McpProxy(deny_as=deny_as, agent=agent or AgentContext(agent_id="", task_id="mcp-proxy"))
    state: dict[str, httpx.AsyncClient] = {}

    def client() -> httpx.AsyncClient:
        if "c" not in state:
            state["c"] = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=10.0))
        return state["c"]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif event["type"] == "lifespan.shutdown":
                    if "c" in state:
                        await state.pop("c").aclose()
                    proxy.flush_results()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = await _read_body(receive)
        if scope["method"] == "POST" and body.strip():
            try:
                status, answer = await proxy.from_http_body(body)
            except Exception:
                logger.exception("agentgate mcp-proxy: could not decide a request; it was not forwarded")
                status, answer = 500, _encode(_error(_loose_id(body), INTERNAL_ERROR, "AgentGate: internal error"))
            if status:
                await _reply(send, status, answer)
                return
        url = origin + scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            url += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in _HOP_REQUEST]
        request = client().build_request(scope["method"], url, headers=headers, content=body or None)
        try:
            response = await client().send(request, stream=True)
        except httpx.HTTPError as e:
            await _reply(send, 502, _encode(_error(None, -32603, f"AgentGate: upstream unreachable: {e}")))
            return
        scanner = _ResultScanner(proxy, response.headers.get("content-type", ""))
        try:
            out_headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP_RESPONSE]
            await send({"type": "http.response.start", "status": response.status_code, "headers": out_headers})
            async for chunk in response.aiter_raw():
                scanner.feed(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
            scanner.end()

    return app


def run_http_proxy(
    upstream: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    deny_as: str = "result",
    agent: AgentContext | None = None,
) -> None:
    """Serve `http_proxy_app` with uvicorn until interrupted (needs the ``server`` extra)."""
    try:
        import uvicorn
    except ImportError as e:  # pragma: no cover - depends on the environment
        from agentgate._errors import MissingDependencyError

        raise MissingDependencyError("uvicorn", "server") from e
    uvicorn.run(http_proxy_app(upstream, deny_as=deny_as, agent=agent), host=host, port=port, log_level="warning")
