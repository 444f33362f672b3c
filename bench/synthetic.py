"""Synthetic audit trails with valid hash chains, written through the real sinks' bulk paths.

Used by the dashboard bench (a million records) and by scripts/dashboard_screenshots.py
(a few hundred). Rows have every column the writer fills, a realistic mix (agents with
their own tools, mostly allows, some blocks, escalations and monitor-mode would-blocks,
tier-2 decisions with a judge, two policy revisions) and times spread evenly over a
period ending now. Hashes are computed with the package's own `link`, so the trail
verifies exactly as one written by agents does.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

from agentgate.audit._record import GENESIS, fast_ts, link, new_id, violation_for

AGENTS = {
    "report-bot": ("read_file", "run_query", "send_email"),
    "billing-agent": ("create_invoice", "refund_payment", "read_file"),
    "ops-bot": ("run_shell", "restart_service", "read_file"),
    "support-agent": ("send_email", "search_tickets", "update_ticket"),
    "deploy-bot": ("run_shell", "http_request", "write_file"),
    "crm-sync": ("http_request", "update_contact", "run_query"),
    "research-agent": ("http_request", "read_file", "write_file"),
    "hr-assistant": ("search_people", "send_email", "read_file"),
}
BLOCK_RULES = {
    "run_query": ("sql.drop", "DROP TABLE destroys data"),
    "run_shell": ("shell.destructive", "rm -rf outside the workspace"),
    "send_email": ("secrets.aws_key", "an AWS access key would be sent in a message"),
    "http_request": ("http.metadata", "the cloud metadata endpoint hands out credentials"),
    "write_file": ("fs.system", "a write to a system file"),
    "refund_payment": ("scope.operation", "refunds are outside this agent's scope"),
}


def _args(tool: str, i: int, bad: bool) -> dict[str, Any]:
    if tool == "run_query":
        return {"query": "DROP TABLE customers" if bad else f"SELECT * FROM orders WHERE id = {i}"}
    if tool == "run_shell":
        return {"command": "rm -rf /var/lib/postgresql" if bad else f"ls -la /srv/app/releases/{i % 40}"}
    if tool == "send_email":
        return {"to": f"user{i % 300}@acme.example", "body": "[REDACTED]" if bad else f"Weekly report #{i}"}
    if tool == "http_request":
        return {
            "url": "http://169.254.169.254/latest/meta-data/iam/"
            if bad
            else f"https://api.partner.example/v2/items/{i}"
        }
    if tool == "write_file":
        return {"path": "/etc/cron.d/backdoor" if bad else f"out/summary-{i}.md", "content": "..."}
    if tool == "refund_payment":
        return {"invoice": f"INV-{i}", "amount": 49.0 + i % 500}
    return {"path": f"data/{tool}/{i % 1000}.json"} if "file" in tool else {"id": i, "query": f"{tool} #{i}"}


def rows(n: int, *, end: float, span: float, seed: int = 7, writer_id: str | None = None) -> Iterator[dict[str, Any]]:
    """*n* chained records of one writer, at times spread over ``[end - span, end]``."""
    rnd = random.Random(seed)
    wid = writer_id or uuid.UUID(int=rnd.getrandbits(128)).hex
    prev = GENESIS
    agents = list(AGENTS)
    for i in range(n):
        agent = agents[rnd.randrange(len(agents))]
        tool = AGENTS[agent][rnd.randrange(3)]
        r = rnd.random()
        rule, reason = BLOCK_RULES.get(tool, ("scope.resource", "outside the agent's resources"))
        block = r < 0.08
        esc = 0.08 <= r < 0.10
        would = 0.10 <= r < 0.12
        tier2 = esc or (block and rnd.random() < 0.3)
        findings = []
        if block or would or esc:
            findings.append(
                {
                    "rule_id": rule,
                    "severity": "high",
                    "effect": "block" if not esc else "escalate",
                    "message": reason,
                    "evidence": tool,
                    "argument": None,
                }
            )
        t = end - span + span * i / max(1, n - 1)
        row: dict[str, Any] = {
            "id": new_id(),
            "created_at": fast_ts(t),
            "agent_id": agent,
            "task_id": f"{agent}-task-{i // 25}",
            "user_id": f"user-{rnd.randrange(20)}",
            "tool_name": tool,
            "payload": {"arguments": _args(tool, i, block or would), "framework": "openai", "call_id": f"call_{i}"},
            "verdict": "block" if block else "escalate" if esc else "allow",
            "policy_name": rule if findings else None,
            "severity": "high" if findings else "low",
            "tier_used": 2 if tier2 else 1,
            "reasoning": (("the judge: " if tier2 else "") + reason) if findings else "no rule matched",
            "decision_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "framework": "openai",
            "findings": findings,
            "latency_us": round(20 + rnd.random() * 80 + (900_000 if tier2 else 0) * rnd.random(), 1),
            "judge_model": "gpt-4o-mini" if tier2 else None,
            "judge_latency_ms": round(300 + rnd.random() * 900, 1) if tier2 else None,
            "policy_revision": "rev-a1b2c3" if i < n * 0.6 else "rev-d4e5f6",
            "mode": "monitor" if would else "enforce",
            "would_block": would,
            "confidence": round(0.6 + rnd.random() * 0.4, 2) if tier2 else 1.0,
            "blast_radius": ("high" if block else "low") if tier2 else None,
            "redacted": tool == "send_email" and (block or would),
            "writer_id": wid,
            "seq": i + 1,
        }
        link(row, prev)
        prev = row["hash"]
        yield row


def write(url: str, records: Iterator[dict[str, Any]], *, batch: int = 20_000) -> int:
    """Store *records* at *url* through its sink's ``write`` (SQLite executemany, PostgreSQL COPY); returns the count."""
    from agentgate.audit._resolve import make_sink

    sink = make_sink(url)
    assert sink is not None
    n = 0
    buf: list[dict[str, Any]] = []
    try:
        for r in records:
            buf.append(r)
            if len(buf) >= batch:
                sink.write(buf, [v for v in map(violation_for, buf) if v is not None])
                n += len(buf)
                buf = []
        if buf:
            sink.write(buf, [v for v in map(violation_for, buf) if v is not None])
            n += len(buf)
    finally:
        sink.close()
    return n
