"""The dashboard's approvals and policy pages, and the two API calls only they need.

Pages (HTML): ``GET /approvals`` (the pending queue, answered with a reason),
``GET /policy`` (the current revision, history, diff, an editor with validation and a
replay preview). Both are plain pages over the JSON API of `agentgate.server._approvals`
and `agentgate.server._policies`; who may do what is decided there and by
`agentgate.server._auth` (a viewer sees both pages; answering needs approver, saving and
previewing an edit need editor), never by the page.

==================================  ===========================================================
``GET /api/approvals/events``       server-sent events: ``approvals`` with the pending queue
                                    and the latest answers, sent at once and whenever either
                                    changes (an answer, a new call, a deadline passing)
``POST /v1/policies/validate``      ``{"text": "<yaml>"}``: ``{"ok": true, "revision": ...}``
                                    or ``{"ok": false, "problems": [{line, key, message}]}``
``POST /v1/policies/preview``       ``{"text": "<yaml>"}``: the calls of the last day (at most
                                    `PREVIEW_LIMIT`) decided under the policy in force and
                                    under the edit, and those whose tier-1 verdict differs
==================================  ===========================================================

The preview compares the edit with the policy in force (the store's head, else the server's
policy), both replayed (`agentgate.policy.preview.replay`) over the same recorded calls, so
it shows what *this edit* changes, not what earlier edits changed since the calls were made.
Replay sees arguments as recorded (secrets redacted): such changes are flagged.
"""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from .._errors import AgentGateError, ConfigError, PolicyStoreError
from ._common import ServerState, error, html_page, json_body
from ._policies import PROBLEMS_SCHEMA, json_request_body, problems_of

__all__ = ["OPENAPI_PATHS", "PREVIEW_LIMIT", "PREVIEW_WINDOW", "preview", "routes"]

#: Most recorded calls a preview replays (the oldest of the window first); more is reported as cut.
PREVIEW_LIMIT = 10_000
#: How far back a preview replays.
PREVIEW_WINDOW = timedelta(days=1)
#: Changed calls listed in a preview answer (the counts cover all of them).
PREVIEW_LISTED = 500
_PAGES = {"approvals": "approvals.html", "policy": "policy.html"}
_TICK = 0.5  # how often an approvals stream re-reads the queue (two indexed queries)
_HEARTBEAT = 15.0
_RECENT = 20


def _key(c: Any) -> tuple[Any, ...]:
    return (c.decision_id, c.created_at, c.agent_id, c.tool_name)


def preview(baseline: Any, candidate: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What deciding *rows* under *candidate* instead of *baseline* changes (both `Config`).

    Each is replayed against the recorded tier-1 verdicts; a call whose two outcomes differ
    is a change ``baseline→candidate``. Pure: no database, no clock.
    """
    from ..policy.preview import replay

    base = replay(baseline, records=rows)
    cand = replay(candidate, records=rows)
    b_by = {_key(c): c for c in base.changes}
    c_by = {_key(c): c for c in cand.changes}
    changes: list[dict[str, Any]] = []
    for k in sorted(set(b_by) | set(c_by), key=lambda k: (str(k[1]), str(k[0]))):
        b, c = b_by.get(k), c_by.get(k)
        recorded = (b or c).before  # type: ignore[union-attr]
        before, after = (b.after if b else recorded), (c.after if c else recorded)
        if before == after:
            continue
        one = c or b
        assert one is not None
        changes.append(
            {
                "created_at": one.created_at,
                "decision_id": one.decision_id,
                "agent_id": one.agent_id,
                "tool_name": one.tool_name,
                "before": before,
                "after": after,
                "change": f"{before}→{after}",
                "rule_before": b.rule_after if b else one.rule_before,
                "rule_after": c.rule_after if c else one.rule_before,
                "reason_after": c.reason_after if c else "as recorded",
                "redacted": one.redacted,
            }
        )
    summary: dict[str, int] = {}
    for ch in changes:
        summary[ch["change"]] = summary.get(ch["change"], 0) + 1
    return {
        "baseline_revision": base.candidate_revision,
        "candidate_revision": cand.candidate_revision,
        "replayed": cand.replayed,
        "skipped": cand.skipped,
        "redacted": cand.redacted,
        "changed": len(changes),
        "summary": dict(sorted(summary.items())),
        "changes": changes[:PREVIEW_LISTED],
        "listed": min(len(changes), PREVIEW_LISTED),
    }


def routes(state: ServerState, policy_store: Any = None) -> list[Any]:
    """The approvals and policy pages, the approvals stream, and policy validate/preview."""
    import anyio
    import anyio.to_thread
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.routing import Route

    def snapshot() -> dict[str, Any]:
        q = state.approvals
        if q is None:
            return {"error": f"approval queue unavailable: {state.approvals_error or 'not configured'}"}
        pending = q.list("pending", 500)
        recent = [a for a in q.list(None, _RECENT + len(pending)) if a.status != "pending"][:_RECENT]
        return {
            "now": time.time(),
            "pending": [a.to_dict() for a in pending],
            "recent": [a.to_dict() for a in recent],
        }

    async def approval_events(request: Request) -> Response:
        async def stream() -> Any:
            yield "retry: 2000\n\n"
            last: Any = None
            idle = 0.0
            while True:
                try:
                    snap = await anyio.to_thread.run_sync(snapshot)
                except AgentGateError as e:
                    snap = {"error": f"approval queue unavailable: {e}"}
                # What the page shows, minus the clock: a new event only when something changed.
                seen = json.dumps({k: v for k, v in snap.items() if k != "now"}, sort_keys=True, default=str)
                if seen != last:
                    last = seen
                    yield f"event: approvals\ndata: {json.dumps(snap, default=str)}\n\n"
                    idle = 0.0
                else:
                    idle += _TICK
                    if idle >= _HEARTBEAT:
                        yield ": keep-alive\n\n"
                        idle = 0.0
                await anyio.sleep(_TICK)

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    async def text_of(request: Request) -> str | Response:
        try:
            body = await json_body(request)
        except ValueError as e:
            return error(400, str(e))
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return error(400, 'body must be {"text": "<agentgate.yaml>"}')
        return str(body["text"])

    async def validate(request: Request) -> Response:
        from ..policy.store import parse_document
        from ..policy.store._base import digest_of

        text = await text_of(request)
        if not isinstance(text, str):
            return text
        try:
            await anyio.to_thread.run_sync(parse_document, text, "edited document")
        except ConfigError as e:
            return JSONResponse({"ok": False, "error": str(e), "problems": problems_of(e)})
        return JSONResponse({"ok": True, "revision": digest_of(text)[:12], "problems": []})

    def baseline() -> Any:
        """The policy in force: the store's head when there is one, else the server's policy."""
        if policy_store is not None:
            head = policy_store.head()
            if head is not None:
                return head.config()
        return state.config

    def recorded(since: datetime) -> tuple[list[dict[str, Any]], bool, bool]:
        """The last window's calls (at most PREVIEW_LIMIT); whether more were left; whether a trail exists."""
        from ..audit._record import format_ts
        from ..audit._resolve import default_target, sqlite_path

        target = default_target() if state.audit is None else state.audit
        path = sqlite_path(target)
        if path is not None:
            from pathlib import Path

            if not Path(path).exists():
                return [], False, False
        store = state.store()
        try:
            rows = list(itertools.islice(store.actions(since=format_ts(since)), PREVIEW_LIMIT + 1))
        finally:
            store.close()
        return rows[:PREVIEW_LIMIT], len(rows) > PREVIEW_LIMIT, True

    async def preview_edit(request: Request) -> Response:
        from ..policy.store import parse_document

        text = await text_of(request)
        if not isinstance(text, str):
            return text
        try:
            candidate = await anyio.to_thread.run_sync(parse_document, text, "edited document")
        except ConfigError as e:
            return JSONResponse({"error": str(e), "problems": problems_of(e)}, status_code=400)
        since = datetime.now(UTC) - PREVIEW_WINDOW
        try:
            base = await anyio.to_thread.run_sync(baseline)
            rows, cut, exists = await anyio.to_thread.run_sync(recorded, since)
            out = await anyio.to_thread.run_sync(preview, base, candidate, rows)
        except (PolicyStoreError, ConfigError) as e:
            return error(503, f"the policy in force cannot be read: {e}")
        except AgentGateError as e:
            return error(503, f"audit trail unavailable: {e}")
        out.update(since=since.isoformat(), cut=cut, limit=PREVIEW_LIMIT, trail=exists)
        return JSONResponse(out)

    return [
        Route("/approvals", html_page(_PAGES["approvals"])),
        Route("/policy", html_page(_PAGES["policy"])),
        Route("/api/approvals/events", approval_events),
        Route("/v1/policies/validate", validate, methods=["POST"]),
        Route("/v1/policies/preview", preview_edit, methods=["POST"]),
    ]


_E = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_TEXT_BODY = json_request_body("text")

#: The OpenAPI description of the /v1 routes this module adds.
OPENAPI_PATHS: dict[str, Any] = {
    "/v1/policies/validate": {
        "post": {
            "summary": "Validate a policy document with the real loader; nothing is stored",
            "description": "Role: editor.",
            "requestBody": _TEXT_BODY,
            "responses": {
                "200": {
                    "description": "ok with the revision the text would have, or every problem with line and key",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "ok": {"type": "boolean"},
                                    "revision": {"type": "string"},
                                    "problems": PROBLEMS_SCHEMA,
                                },
                            }
                        }
                    },
                },
                "400": _E,
            },
        }
    },
    "/v1/policies/preview": {
        "post": {
            "summary": "Replay the last day's calls under the policy in force and under this text; list what differs",
            "description": f"Role: editor. At most {PREVIEW_LIMIT} calls (``cut`` says when more were left); "
            f"the first {PREVIEW_LISTED} changes are listed, all are counted. Nothing is stored.",
            "requestBody": _TEXT_BODY,
            "responses": {
                "200": {
                    "description": "replayed, changed, summary per kind (allow→block ...), changes",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "replayed": {"type": "integer"},
                                    "changed": {"type": "integer"},
                                    "summary": {"type": "object", "additionalProperties": {"type": "integer"}},
                                    "changes": {"type": "array", "items": {"type": "object"}},
                                    "cut": {"type": "boolean"},
                                    "trail": {"type": "boolean"},
                                    "baseline_revision": {"type": "string"},
                                    "candidate_revision": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "400": {
                    "description": "invalid document: every problem with line and key",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"error": {"type": "string"}, "problems": PROBLEMS_SCHEMA},
                            }
                        }
                    },
                },
                "503": _E,
            },
        }
    },
}
