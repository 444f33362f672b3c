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
import queue
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from agentgate._context import AgentContext, _use_context
from agentgate._errors import FirewallBlockedError

from ._common import guard_call
from .mcp import blocked_result, result_text

__all__ = ["DENY_AS", "McpProxy", "run_proxy"]

logger = logging.getLogger("agentgate.mcp_proxy")

DENY_AS = ("result", "error")
_FRAMEWORK = "mcp-proxy"
#: JSON-RPC error codes the proxy answers with.
PARSE_ERROR, INVALID_REQUEST, BLOCKED = -32700, -32600, -32001


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

    def _decide(self, message: Any) -> dict[str, Any] | None:
        """None to forward *message*; else the answer (``{}``: drop silently)."""
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            return None
        msg_id = message.get("id")
        params = message.get("params")
        if not isinstance(params, dict) or not isinstance(params.get("name"), str):
            return (
                _error(msg_id, INVALID_REQUEST, "AgentGate: tools/call without a tool name")
                if msg_id is not None
                else {}
            )
        name, arguments = params["name"], params.get("arguments") or {}
        self._apply_results()
        try:
            with _use_context(self.agent):
                verdict = guard_call(name, arguments, framework=_FRAMEWORK, call_id=_key(msg_id))
        except FirewallBlockedError as exc:
            logger.info("blocked tools/call %s: %s", name, exc.verdict.reasoning)
            if msg_id is None:
                return {}  # a notification cannot be answered; it is simply not delivered
            if self.deny_as == "error":
                v = exc.verdict
                data = {"decision_id": v.decision_id, "rule": v.policy_name, "severity": v.severity.value}
                return _error(msg_id, BLOCKED, f"AgentGate blocked {name}: {v.reasoning}", data)
            return {"jsonrpc": "2.0", "id": msg_id, "result": blocked_result(exc, name)}
        if msg_id is not None:
            with self._lock:
                self._awaiting[_key(msg_id)] = verdict.decision_id
        return None

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


def run_proxy(
    command: Sequence[str],
    *,
    deny_as: str = "result",
    agent: AgentContext | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
) -> int:
    """Run the proxy until the server exits or the client closes stdin; returns the server's exit code.

    The default firewall (configure it first, e.g. ``protect_all(config=..., frameworks=[])``)
    decides every ``tools/call``. The server's stderr is inherited.
    """
    if not command:
        raise ValueError("mcp-proxy needs the server command after --")
    proxy = McpProxy(deny_as=deny_as, agent=agent or AgentContext(agent_id="", task_id="mcp-proxy"))
    inp = stdin if stdin is not None else sys.stdin.buffer
    out = stdout if stdout is not None else sys.stdout.buffer
    proc = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
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
                forward, answer = proxy.from_client(line)
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

    reader = threading.Thread(target=client_to_server, name="agentgate-mcp-client", daemon=True)
    reader.start()
    try:
        for line in iter(server_out.readline, b""):
            to_client(proxy.from_server(line))
    except (BrokenPipeError, OSError):
        pass  # the client went away
    finally:
        proxy.flush_results()
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
