"""``agentgate audit verify``: recompute every chain and name the first broken record.

What it catches, per writer chain (``writer_id``, ``seq`` = 1, 2, 3 ...):

* **altered**: a row whose content no longer matches its ``hash`` (an UPDATE);
* **broken link**: a row whose ``prev_hash`` is not the previous row's ``hash``
  (the previous row was rewritten together with its hash, or rows were swapped);
* **deleted**: a gap in ``seq`` (a DELETE), or a chain that does not start at 1;
* **inserted**: a row outside any chain (no ``writer_id``/``seq``/``hash``: an
  INSERT by hand) or a duplicated position;
* **violations**: a ``violations`` row missing, added or changed with respect to
  the one its action implies (`violation_for`).

What it cannot see without an outside anchor: the last records of a chain cut
off together (nothing after them refers to them), or a whole chain forged by
someone who knows the algorithm. `VerifyReport.heads` lists every chain's last
position and hash; keep them elsewhere (a ticket, a log shipper) to close that gap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._record import GENESIS, record_hash, violation_for

__all__ = ["Problem", "VerifyReport", "verify_rows"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One place where the trail does not add up."""

    kind: str
    message: str
    record_id: str | None = None
    writer_id: str | None = None
    seq: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Result of `verify_rows`: ``ok`` when nothing was found; ``problems`` in the order met."""

    records: int
    chains: int
    problems: tuple[Problem, ...]
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every chain and every violation row verifies."""
        return not self.problems

    @property
    def first(self) -> Problem | None:
        """The first problem found (what ``audit verify`` names)."""
        return self.problems[0] if self.problems else None


def _where(row: Mapping[str, Any]) -> str:
    return f"record {row.get('id')} (writer {str(row.get('writer_id'))[:12]}, seq {row.get('seq')}, tool {row.get('tool_name')!r})"


def verify_rows(
    rows: Iterable[Mapping[str, Any]],
    violations: Iterable[Mapping[str, Any]] = (),
    *,
    max_problems: int = 100,
    start: Mapping[str, tuple[int, str]] | None = None,
) -> VerifyReport:
    """Verify action rows ordered by ``(writer_id, seq)`` and the stored violations.

    *start* maps a writer to a verified checkpoint ``(seq, hash)``: its rows are then
    expected to continue from there (seq + 1, linked to that hash) instead of from
    the beginning of the chain.
    """
    problems: list[Problem] = []
    heads: dict[str, tuple[int, str]] = {}
    expected_v: dict[str, dict[str, Any]] = {}
    action_ids: set[str] = set()
    count = 0
    writer: str | None = None
    want = 1
    prev = GENESIS

    def add(p: Problem) -> None:
        if len(problems) < max_problems:
            problems.append(p)

    for row in rows:
        count += 1
        rid = str(row.get("id"))
        action_ids.add(rid)
        v = violation_for(row) if row.get("verdict") else None
        if v is not None:
            expected_v[v["id"]] = v
        wid, seq, h = row.get("writer_id"), row.get("seq"), row.get("hash")
        if wid is None or seq is None or not h:
            add(Problem("inserted", f"{_where(row)} is not part of any chain (written outside AgentGate?)", rid))
            continue
        if wid != writer:
            cp = start.get(wid) if start else None
            writer, want, prev = wid, (cp[0] + 1 if cp else 1), (cp[1] if cp else GENESIS)
        if seq < want:
            add(Problem("inserted", f"{_where(row)} repeats position {seq} of its chain", rid, wid, seq))
            continue
        if seq > want:
            gap = f"{want}" if seq - want == 1 else f"{want}..{seq - 1}"
            add(
                Problem("deleted", f"chain {wid[:12]} is missing seq {gap} (just before {_where(row)})", rid, wid, want)
            )
            prev = str(row.get("prev_hash"))
        if row.get("prev_hash") != prev:
            add(
                Problem(
                    "altered",
                    f"{_where(row)}: prev_hash does not match the hash of seq {seq - 1} "
                    "(that record was rewritten with its hash, or records were swapped)",
                    rid,
                    wid,
                    seq,
                )
            )
        if record_hash(row) != h:
            add(
                Problem(
                    "altered", f"{_where(row)}: content does not match its hash (the row was modified)", rid, wid, seq
                )
            )
        prev, want = str(h), seq + 1
        heads[wid] = (seq, str(h))
    _check_violations(violations, expected_v, action_ids, add)
    return VerifyReport(count, len(heads), tuple(problems), heads)


def _check_violations(
    stored: Iterable[Mapping[str, Any]],
    expected: dict[str, dict[str, Any]],
    action_ids: set[str],
    add: Any,
) -> None:
    for v in stored:
        vid = str(v.get("id"))
        want = expected.pop(vid, None)
        if want is None:
            what = "no action" if str(v.get("action_id")) not in action_ids else "an action that did not block"
            add(Problem("inserted", f"violation {vid} points at {what} ({v.get('action_id')})", vid))
            continue
        got = {"severity": v.get("severity"), "details": v.get("details"), "action_id": str(v.get("action_id"))}
        exp = {"severity": want["severity"], "details": want["details"], "action_id": str(want["action_id"])}
        if got != exp:
            add(Problem("altered", f"violation {vid} of action {want['action_id']} was modified", vid))
    for vid, want in expected.items():
        add(Problem("deleted", f"violation {vid} of blocked action {want['action_id']} is missing", vid))
