"""``agentgate replay``: decide the audit trail's calls again under a candidate policy; show what changes."""

from __future__ import annotations

import sys

import click

from .._errors import AuditError, ConfigError, MissingDependencyError, PolicyStoreError
from ._common import EXIT_BLOCK, EXIT_OK, EXIT_USAGE, dump_json

__all__ = ["command"]

REDACTION_NOTE = (
    "the trail records arguments redacted (secrets, redact_fields): a call replayed on a "
    "[REDACTED] value may decide differently on its real one"
)


@click.command("replay")
@click.option(
    "--policy", "-p", required=True, help="The candidate policy: a file, a store URL, or <store URL>#<revision>."
)
@click.option(
    "--since", default="7d", show_default=True, help="Only calls at or after: ISO time, or 15m / 2h / 7d ago."
)
@click.option(
    "--db", envvar="AGENTGATE_AUDIT_URL", show_envvar=True, help="The audit trail (default .agentgate/audit.db)."
)
@click.option(
    "--jsonl", type=click.Path(dir_okay=False, exists=True), help="Read records from a JSON Lines export instead."
)
@click.option("--limit", type=click.IntRange(min=1), help="Replay at most this many calls (oldest first).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def command(policy: str, since: str, db: str | None, jsonl: str | None, limit: int | None, as_json: bool) -> None:
    """Re-decide recorded calls under a candidate policy; print the verdicts that change.

    The calls come from the audit trail (--db) or a JSON Lines export (--jsonl); a summary
    counts the changes per kind. Tier 1 is compared with tier 1 (a call the judge decided counts as "escalate" before).
    Exit status: 0 nothing changes, 1 some verdicts change, 2 usage or read error.
    """
    from ..policy.preview import replay
    from ._audit import _since

    since_ts = _since(since) if since else None
    try:
        report = replay(policy, db=db, jsonl=jsonl, since=since_ts, limit=limit)
    except (ConfigError, PolicyStoreError, AuditError, MissingDependencyError) as e:
        click.echo(f"agentgate: error: {e}", err=True)
        sys.exit(EXIT_USAGE)
    if as_json:
        out = report.to_dict()
        out["since"] = since_ts
        if report.redacted:
            out["note"] = REDACTION_NOTE
        click.echo(dump_json(out))
    else:
        source = jsonl or db or ".agentgate/audit.db"
        click.echo(
            f"replayed {report.replayed} calls from {source} since {since_ts} "
            f"under {policy} @ {report.candidate_revision}"
        )
        for c in report.changes:
            flag = "  [redacted args]" if c.redacted else ""
            click.echo(
                f"{c.before:>8} → {c.after:<8} {c.created_at}  {c.agent_id or '-'}  {c.tool_name}  "
                f"rule {c.rule_before or '-'} → {c.rule_after or '-'}{flag}"
            )
        summary = ", ".join(f"{k} {n}" for k, n in report.summary.items()) or "none"
        click.echo(
            f"summary: {len(report.changes)} changed ({summary}); {report.replayed - len(report.changes)} unchanged"
            + (f"; {report.rule_changes} decided by another rule" if report.rule_changes else "")
            + (f"; {report.skipped} skipped (arguments not recorded)" if report.skipped else "")
        )
        if report.redacted:
            click.echo(f"note: {report.redacted} of these calls have redacted arguments; {REDACTION_NOTE}")
    sys.exit(EXIT_BLOCK if report.changes else EXIT_OK)
