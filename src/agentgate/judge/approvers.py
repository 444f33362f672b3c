"""Human approval for escalated calls (``on_escalate="ask"``, ``on_judge_error="ask"``).

Three approvers, one protocol (`Approver`: sync ``approve`` and async ``aapprove``):

* `ConsoleApprover`: asks on the terminal, showing the call and the findings;
* `WebhookApprover`: POSTs the request as JSON to a URL and waits for the answer
  (in the response, or by polling a URL the response names);
* `CallableApprover`: any function ``(EscalationRequest) -> bool | ApprovalDecision | None``,
  sync or async.

Every approver has a timeout; **no answer in time is a block**, as is an error, a
malformed answer, or anything but an explicit yes.

>>> approver = CallableApprover(lambda req: "yes")
>>> approver._convert("yes").approved is None   # only True approves; "yes" is no answer
True
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import hmac
import inspect
import json
import os
import queue
import select
import sys
import threading
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

from agentgate._errors import ConfigError, MissingDependencyError

from .prompt import redact_secrets

if TYPE_CHECKING:
    from agentgate._escalation import EscalationRequest

__all__ = [
    "ApprovalDecision",
    "Approver",
    "CallableApprover",
    "ConsoleApprover",
    "WebhookApprover",
    "approval_payload",
]


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """A human's answer.

    Attributes:
        approved: True (run it), False (do not), None (no answer: blocks).
        approver: Who answered (``console``, the webhook's ``approver`` field, ...).
        reason: Why, or why there was no answer.
    """

    approved: bool | None
    approver: str
    reason: str = ""


@runtime_checkable
class Approver(Protocol):
    """Asks a human about one escalated call. Must never raise for a missing answer: return ``approved=None``."""

    name: str

    def approve(self, req: EscalationRequest) -> ApprovalDecision:
        """Ask (sync)."""
        ...

    async def aapprove(self, req: EscalationRequest) -> ApprovalDecision:
        """Ask (async)."""
        ...


def approval_payload(req: EscalationRequest, note: str = "", *, redact: bool = True) -> dict[str, Any]:
    """The JSON a human (or an approval service) sees for *req*; secrets masked unless ``redact=False``."""
    agent = req.agent
    args: Any = json.loads(json.dumps(dict(req.call.arguments), default=str))
    findings = [f.to_dict() for f in req.findings]
    if redact:
        args, findings = redact_secrets([args, findings])
    return {
        "request_id": uuid.uuid4().hex,
        "tool": req.call.tool_name,
        "arguments": args,
        "framework": req.call.framework,
        "kind": req.kind,
        "operation": req.operation,
        "task": agent.task_description or req.policy.task,
        "agent": {"agent_id": agent.agent_id, "task_id": agent.task_id, "user_id": agent.user_id},
        "policy": req.policy.describe(),
        "policy_revision": req.policy_revision,
        "findings": findings,
        "note": note,
    }


# --------------------------------------------------------------------------- console


def _printable(text: str) -> str:
    # Arguments come from the agent: control characters (ANSI escapes, carriage
    # returns) could redraw the prompt, so they are shown escaped.
    return "".join(
        ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf") else f"\\u{ord(ch):04x}" for ch in text
    )


class ConsoleApprover:
    """Asks on a terminal: shows the call and the findings, waits for ``y``.

    Args:
        timeout: Seconds to wait for an answer (default 60); then the call is blocked.
        stdin: Where answers come from (default ``sys.stdin``).
        stdout: Where the question goes (default ``sys.stderr``, so tool output stays clean).
        require_tty: When true (default), a non-interactive stdin means no answer.
    """

    name = "console"

    def __init__(
        self,
        timeout: float = 60.0,
        *,
        stdin: IO[str] | None = None,
        stdout: IO[str] | None = None,
        require_tty: bool = True,
    ) -> None:
        if timeout <= 0:
            raise ConfigError(f"approval timeout must be > 0 seconds, not {timeout!r}")
        self.timeout = timeout
        self.stdin = stdin
        self.stdout = stdout
        self.require_tty = require_tty
        # One question at a time: concurrent prompts would interleave on the terminal.
        self._lock = threading.Lock()

    def render(self, req: EscalationRequest) -> str:
        """The text shown to the human."""
        p = approval_payload(req)
        args = json.dumps(p["arguments"], indent=2, ensure_ascii=False, default=str)
        if len(args) > 4000:
            args = args[:4000] + "\n  … (truncated)"
        lines = [
            "",
            "━━ AgentGate: approval needed " + "━" * 30,
            f"agent {p['agent']['agent_id'] or 'default'} (user {p['agent']['user_id'] or '-'}) wants to run:",
            f"  tool:      {p['tool']}   [{p['kind']} / {p['operation'] or 'unknown'}]",
            f"  task:      {p['task'] or '(none given)'}",
            f"  scope:     {p['policy']}",
            "  arguments:",
            *("    " + line for line in args.splitlines()),
            "  findings:",
            *(f"    - {f['rule_id']} ({f['severity']}): {f['message']}" for f in p["findings"]),
        ]
        return _printable("\n".join(lines)) + "\n"

    def _readline(self, stream: IO[str], timeout: float) -> str | None:
        try:
            fd = stream.fileno()
        except (OSError, ValueError, AttributeError):
            fd = -1
        if fd >= 0 and os.name == "posix":
            ready, _, _ = select.select([fd], [], [], max(timeout, 0.0))
            return stream.readline() if ready else None
        # No selectable descriptor (a StringIO, Windows): read on a helper thread.
        box: queue.Queue[str] = queue.Queue(maxsize=1)
        threading.Thread(target=lambda: box.put(stream.readline()), daemon=True).start()
        try:
            return box.get(timeout=timeout)
        except queue.Empty:
            return None

    def approve(self, req: EscalationRequest) -> ApprovalDecision:
        """Ask on the terminal; no answer within `timeout` → ``approved=None``."""
        stdin = self.stdin if self.stdin is not None else sys.stdin
        stdout = self.stdout if self.stdout is not None else sys.stderr
        if stdin is None or (self.require_tty and not stdin.isatty()):
            return ApprovalDecision(None, self.name, "no interactive terminal to ask on")
        deadline = time.monotonic() + self.timeout
        if not self._lock.acquire(timeout=self.timeout):
            return ApprovalDecision(None, self.name, f"no answer within {self.timeout:g}s (another question was open)")
        try:
            stdout.write(self.render(req))
            stdout.write(f"Allow this call? [y/N] (blocks in {self.timeout:g}s): ")
            stdout.flush()
            line = self._readline(stdin, deadline - time.monotonic())
        finally:
            self._lock.release()
        if line is None:
            stdout.write("\nno answer: blocked\n")
            stdout.flush()
            return ApprovalDecision(None, self.name, f"no answer within {self.timeout:g}s")
        answer = line.strip().casefold()
        if answer in ("y", "yes"):
            return ApprovalDecision(True, self.name, "approved at the console")
        if answer in ("", "n", "no"):
            return ApprovalDecision(False, self.name, "denied at the console")
        return ApprovalDecision(False, self.name, f"denied at the console (unrecognized answer {answer[:20]!r})")

    async def aapprove(self, req: EscalationRequest) -> ApprovalDecision:
        """Ask on the terminal from async code (the blocking read runs on a worker thread)."""
        return await asyncio.to_thread(self.approve, req)


# --------------------------------------------------------------------------- webhook


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise MissingDependencyError("httpx", "http") from None
    return httpx


class WebhookApprover:
    """POSTs the approval request to a URL and waits for the answer.

    The body is `approval_payload` as JSON. The service answers either

    * at once (it may hold the request open while a human decides) with
      ``200 {"approved": true|false, "approver": "alice", "reason": "..."}``, or
    * with ``202 {"poll_url": "..."}`` (or a ``Location`` header), which is then
      polled with GET every `poll_interval` seconds until it returns the answer.

    Anything else (an error status, a timeout, ``"approved": "yes"``) is no answer, and blocks.

    Args:
        url: Where to POST.
        timeout: Total seconds to wait for the answer (default 300); then the call is blocked.
        headers: Extra headers (authentication).
        secret: When set, the body is signed: ``X-AgentGate-Signature: sha256=<hex HMAC>``.
        poll_interval: Seconds between polls.
    """

    name = "webhook"

    def __init__(
        self,
        url: str,
        timeout: float = 300.0,
        *,
        headers: dict[str, str] | None = None,
        secret: str | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook approver url must be http(s)://..., not {url!r}")
        if timeout <= 0 or poll_interval <= 0:
            raise ConfigError("webhook approver timeout and poll_interval must be > 0 seconds")
        self.url = url
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.secret = secret
        self.poll_interval = poll_interval

    def _body(self, req: EscalationRequest) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(approval_payload(req), default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "agentgate-approver", **self.headers}
        if self.secret:
            sig = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-AgentGate-Signature"] = f"sha256={sig}"
        return body, headers

    def _interpret(self, response: Any) -> ApprovalDecision | str:
        """The decision in *response*, or the URL to poll next."""
        status = response.status_code
        if status == 202 or (status == 200 and _pending(response)):
            location = _poll_url(response)
            if location is None:
                return ApprovalDecision(None, self.name, "webhook said pending but gave no poll_url")
            return str(response.url.join(location))
        if status != 200:
            return ApprovalDecision(None, self.name, f"webhook answered HTTP {status}")
        try:
            data = response.json()
        except ValueError:
            return ApprovalDecision(None, self.name, "webhook answer is not JSON")
        approved = data.get("approved") if isinstance(data, dict) else None
        if not isinstance(approved, bool):
            return ApprovalDecision(None, self.name, "webhook answer has no boolean 'approved'")
        who = data.get("approver")
        reason = data.get("reason")
        return ApprovalDecision(
            approved,
            f"webhook:{who}" if isinstance(who, str) and who else self.name,
            reason if isinstance(reason, str) else ("approved" if approved else "denied") + " via webhook",
        )

    def approve(self, req: EscalationRequest) -> ApprovalDecision:
        """POST and wait (sync); no answer within `timeout` → ``approved=None``."""
        httpx = _httpx()
        deadline = time.monotonic() + self.timeout
        body, headers = self._body(req)
        try:
            with httpx.Client(follow_redirects=False) as client:
                response = client.post(self.url, content=body, headers=headers, timeout=self.timeout)
                step = self._interpret(response)
                while isinstance(step, str):
                    remaining = deadline - time.monotonic()
                    if remaining <= self.poll_interval:
                        return self._timed_out()
                    time.sleep(self.poll_interval)
                    # The sleep can overrun the deadline on a loaded machine: that is a timeout,
                    # not a negative timeout value for the next request.
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return self._timed_out()
                    response = client.get(step, headers=self.headers, timeout=remaining)
                    step = self._interpret(response)
                return step
        except httpx.TimeoutException:
            return self._timed_out()
        except httpx.HTTPError as exc:
            return ApprovalDecision(None, self.name, f"webhook unreachable: {type(exc).__name__}: {exc}")

    async def aapprove(self, req: EscalationRequest) -> ApprovalDecision:
        """POST and wait (async); no answer within `timeout` → ``approved=None``."""
        try:
            return await asyncio.wait_for(self._aapprove(req), timeout=self.timeout)
        except TimeoutError:
            return self._timed_out()

    async def _aapprove(self, req: EscalationRequest) -> ApprovalDecision:
        httpx = _httpx()
        deadline = time.monotonic() + self.timeout
        body, headers = self._body(req)
        try:
            async with httpx.AsyncClient(follow_redirects=False) as client:
                response = await client.post(self.url, content=body, headers=headers, timeout=self.timeout)
                step = self._interpret(response)
                while isinstance(step, str):
                    if deadline - time.monotonic() <= self.poll_interval:
                        return self._timed_out()
                    await asyncio.sleep(self.poll_interval)
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return self._timed_out()
                    response = await client.get(step, headers=self.headers, timeout=remaining)
                    step = self._interpret(response)
                return step
        except httpx.TimeoutException:
            return self._timed_out()
        except httpx.HTTPError as exc:
            return ApprovalDecision(None, self.name, f"webhook unreachable: {type(exc).__name__}: {exc}")

    def _timed_out(self) -> ApprovalDecision:
        return ApprovalDecision(None, self.name, f"no answer from the webhook within {self.timeout:g}s")


def _pending(response: Any) -> bool:
    try:
        data = response.json()
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("status") == "pending"


def _poll_url(response: Any) -> str | None:
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("poll_url"), str):
        return str(data["poll_url"])
    location = response.headers.get("location")
    return str(location) if location else None


# --------------------------------------------------------------------------- callable

ApproverFunc = Callable[
    ["EscalationRequest"], "bool | ApprovalDecision | Awaitable[bool | ApprovalDecision | None] | None"
]


class CallableApprover:
    """Any function as an approver: returns True/False, an `ApprovalDecision`, or None (no answer).

    An ``async def`` works on the async path; on the sync path it cannot be awaited
    without running an event loop inside the library, so it counts as no answer (block).
    A sync function called from async code runs on a worker thread.

    Args:
        fn: The function.
        timeout: Seconds to wait (None: as long as it takes). A sync function that
            overruns keeps running on its worker thread; its late answer is ignored.
        name: How the approver appears in verdicts.
    """

    def __init__(self, fn: ApproverFunc, timeout: float | None = None, *, name: str | None = None) -> None:
        if timeout is not None and timeout <= 0:
            raise ConfigError(f"approval timeout must be > 0 seconds, not {timeout!r}")
        self.fn = fn
        self.timeout = timeout
        self.name = name or f"callable:{getattr(fn, '__qualname__', type(fn).__name__)}"

    def _convert(self, out: object) -> ApprovalDecision:
        if isinstance(out, ApprovalDecision):
            return out
        if out is None:
            return ApprovalDecision(None, self.name, "the approver gave no answer")
        if isinstance(out, bool):
            return ApprovalDecision(out, self.name, "approved" if out else "denied")
        return ApprovalDecision(None, self.name, f"the approver returned {type(out).__name__}, not a bool")

    def _call(self, req: EscalationRequest) -> object:
        out = self.fn(req)
        if isinstance(out, Awaitable):
            if asyncio.iscoroutine(out):
                out.close()
            return ApprovalDecision(None, self.name, "an async approver cannot answer on a sync call path")
        return out

    def approve(self, req: EscalationRequest) -> ApprovalDecision:
        """Call the function (sync path)."""
        try:
            if self.timeout is None:
                return self._convert(self._call(req))
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentgate-approver")
            try:
                return self._convert(pool.submit(self._call, req).result(timeout=self.timeout))
            finally:
                pool.shutdown(wait=False)
        except concurrent.futures.TimeoutError:
            return ApprovalDecision(None, self.name, f"no answer within {self.timeout:g}s")
        except Exception as exc:
            return ApprovalDecision(None, self.name, f"the approver failed: {type(exc).__name__}: {exc}")

    async def aapprove(self, req: EscalationRequest) -> ApprovalDecision:
        """Call the function (async path); sync functions run on a worker thread."""
        try:
            return await asyncio.wait_for(self._acall(req), timeout=self.timeout)
        except TimeoutError:
            return ApprovalDecision(None, self.name, f"no answer within {self.timeout:g}s")
        except Exception as exc:
            return ApprovalDecision(None, self.name, f"the approver failed: {type(exc).__name__}: {exc}")

    async def _acall(self, req: EscalationRequest) -> ApprovalDecision:
        if inspect.iscoroutinefunction(self.fn):
            return self._convert(await self.fn(req))
        out = await asyncio.to_thread(self.fn, req)
        if isinstance(out, Awaitable):
            out = await out
        return self._convert(out)
