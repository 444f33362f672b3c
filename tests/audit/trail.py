"""Build audit trails with chosen decision times, through the writer's own record path.

`Trail` turns (call, verdict, agent) triples into rows with `base_row` (redaction
included), chains them as `AuditWriter` does and stores them with a real sink's
``write``: the same rows an agent would have written, at the times a test needs.
"""

from __future__ import annotations

import uuid
from typing import Any

from agentgate._call import ToolCall
from agentgate._context import AgentContext
from agentgate._decision import Verdict
from agentgate.audit._record import GENESIS, link, new_id, violation_for
from agentgate.audit._redact import Redactor
from agentgate.audit._resolve import make_sink
from agentgate.audit._writer import base_row


class Trail:
    """One writer chain into the trail at *url*."""

    def __init__(self, url: str) -> None:
        sink = make_sink(url)
        assert sink is not None
        self.sink = sink
        self.writer_id = uuid.uuid4().hex
        self.seq = 0
        self.prev = GENESIS
        self.redactor = Redactor()
        self.rows: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []

    def add(self, call: ToolCall, verdict: Verdict, agent: AgentContext, t: float) -> dict[str, Any]:
        """Record one decision made at UNIX time *t* (stored at the next `flush`)."""
        item = (t, call, verdict, agent.agent_id, agent.task_id, agent.user_id, dict(call.arguments))
        row = base_row(item, self.redactor)
        from agentgate.audit._record import fast_ts

        row["created_at"] = fast_ts(t)
        row["id"] = new_id()
        self.seq += 1
        row["writer_id"], row["seq"] = self.writer_id, self.seq
        link(row, self.prev)
        self.prev = str(row["hash"])
        self.rows.append(row)
        self._pending.append(row)
        return row

    def flush(self) -> None:
        """Write what was added since the last flush, in one batch."""
        rows, self._pending = self._pending, []
        if rows:
            vs = [v for v in (violation_for(r) for r in rows) if v is not None]
            self.sink.write(rows, vs)

    def close(self) -> None:
        """Flush and close the sink."""
        self.flush()
        self.sink.close()
