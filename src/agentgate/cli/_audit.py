"""``agentgate audit``: read, check and export the audit trail.

Every subcommand reads the same target as the firewall writes: ``--db URL``
(before or after the subcommand), else the ``audit:`` URL of ``--config`` /
``AGENTGATE_CONFIG``, else ``AGENTGATE_AUDIT_URL``, else
``SUPABASE_URL``/``SUPABASE_KEY``, else ``.agentgate/audit.db``. Exit codes: 0
fine, 1 the trail failed verification or could not be read, 2 bad arguments.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import click

from agentgate._errors import AgentGateError, ConfigError
from agentgate.audit._record import public

from ._common import config_audit_url, config_option, load_or_exit

__all__ = ["command"]

_COLUMNS = ("created_at", "verdict", "agent_id", "task_id", "tool_name", "policy_name", "latency_us")
_REL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _since(value: str | None) -> str | None:
    """``15m``/``2h``/``7d`` ago, or an ISO date/time (UTC when no zone), as the stored text form."""
    if value is None:
        return None
    from agentgate.audit._record import format_ts

    m = _REL.match(value)
    if m:
        return format_ts(datetime.now(UTC) - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)]))
    try:
        return format_ts(datetime.fromisoformat(value.strip().replace("Z", "+00:00")))
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: use an ISO date/time or a duration like 15m, 2h, 7d", param_hint="--since"
        ) from None


def _target(obj: dict[str, Any]) -> str | None:
    """``--db``, else the config's ``audit:`` URL (the first readable one of a list), else None (the default)."""
    if obj.get("db"):
        return str(obj["db"])
    cfg = load_or_exit(obj.get("config"))
    url = config_audit_url(cfg)
    if isinstance(url, list):
        from agentgate.audit._resolve import is_off

        url = next((u for u in url if not is_off(u) and not u.strip().lower().startswith("memory")), None)
    return url


class _Store:
    """Opens the store lazily and turns AgentGate errors into CLI errors.

    With *wait* (``tail -f``), a SQLite trail that does not exist yet is waited for.
    """

    def __init__(self, obj: dict[str, Any], *, wait: float | None = None) -> None:
        self.db = _target(obj)
        self.wait = wait
        self._store: Any = None

    def __enter__(self) -> Any:
        from agentgate.audit import open_store
        from agentgate.audit._resolve import default_target, sqlite_path

        said = False
        while True:
            try:
                self._store = open_store(self.db)
                return self._store
            except ConfigError as exc:
                raise click.BadParameter(str(exc), param_hint="--db") from exc
            except AgentGateError as exc:
                path = sqlite_path(self.db or default_target())
                if self.wait is None or path is None or Path(path).exists():
                    raise click.ClickException(str(exc)) from exc
                if not said:
                    click.echo(f"waiting for {path} to be created ...", err=True)
                    said = True
                time.sleep(self.wait)

    def __exit__(self, *exc: object) -> None:
        if self._store is not None:
            self._store.close()


def _line(row: dict[str, Any]) -> str:
    lat = row.get("latency_us")
    return "  ".join(
        [
            str(row.get("created_at") or "")[:23],
            f"{(row.get('verdict') or '').upper():<8}",
            f"{row.get('agent_id') or '-':<14}",
            f"{row.get('task_id') or '-':<14}",
            f"{row.get('tool_name') or '':<20}",
            f"{row.get('policy_name') or '-':<24}",
            f"{lat:.0f}us" if isinstance(lat, int | float) else "-",
        ]
    )


def _emit(rows: Iterable[dict[str, Any]], as_json: bool, out: IO[str] | None = None) -> int:
    n = 0
    for row in rows:
        n += 1
        if as_json:
            click.echo(json.dumps(public(row), ensure_ascii=False, default=str), file=out)
        else:
            click.echo(_line(row), file=out)
    return n


_progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Count records on stderr as they go (default: only when stderr is a terminal).",
)


class _Progress:
    """``verify: 1,200,000 records (85,000/s)`` on stderr, rewritten in place, at most 4 times a second."""

    def __init__(self, what: str, enabled: bool | None) -> None:
        self.what = what
        self.on = sys.stderr.isatty() if enabled is None else enabled
        self.n = 0
        self._t0 = self._last = time.monotonic()

    def count(self, rows: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """Pass *rows* through, counting."""
        for row in rows:
            self.n += 1
            if self.on and not self.n % 1000:
                now = time.monotonic()
                if now - self._last >= 0.25:
                    self._last = now
                    self._show(now)
            yield row

    def _show(self, now: float, end: str = "") -> None:
        rate = self.n / max(now - self._t0, 1e-9)
        click.echo(f"\r{self.what}: {self.n:,} records ({rate:,.0f}/s){end}", err=True, nl=False)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.on:
            self._show(time.monotonic(), "\n")


def _guard(fn: Any) -> Any:
    """Translate AgentGate errors raised while streaming into a clean exit 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentGateError as exc:
            raise click.ClickException(str(exc)) from exc

    return wrapper


_DB_HELP = "Audit target URL (default: the config's audit:, else AGENTGATE_AUDIT_URL ..., as the firewall)."


def _where(f: Any) -> Any:
    """``--db`` and ``--config`` on a subcommand too (``agentgate audit verify --db X``); the subcommand's win."""

    def remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is not None:
            ctx.ensure_object(dict)[param.name or ""] = value
        return value

    f = click.option("--db", metavar="URL", default=None, expose_value=False, callback=remember, help=_DB_HELP)(f)
    return click.option(
        "--config",
        "-c",
        "config",
        type=click.Path(dir_okay=False),
        default=None,
        expose_value=False,
        callback=remember,
        help="agentgate.yaml whose audit: URL to read (default: AGENTGATE_CONFIG).",
    )(f)


@click.group("audit")
@click.option("--db", metavar="URL", default=None, help=_DB_HELP)
@config_option
@click.pass_context
def command(ctx: click.Context, db: str | None, config_path: str | None) -> None:
    """Read, verify and export the audit trail."""
    ctx.obj = {"db": db, "config": config_path}


@command.command()
@_where
@click.option("-n", "--lines", "count", type=click.IntRange(1), default=20, show_default=True, help="How many records.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new records as they arrive (waits for a new trail).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--interval", type=click.FloatRange(0.05), default=0.5, show_default=True, help="Poll interval with -f.")
@click.pass_obj
@_guard
def tail(obj: dict[str, Any], count: int, follow: bool, as_json: bool, interval: float) -> None:
    """The latest records (oldest first); with -f, then every new one."""
    with _Store(obj, wait=interval if follow else None) as store:
        last = list(store.actions(limit=count, newest_first=True))[::-1]
        _emit(last, as_json)
        after = max((int(r.get("ingest_id") or 0) for r in last), default=0)
        while follow:
            time.sleep(interval)
            for row in store.actions(after=after):
                _emit([row], as_json)
                after = max(after, int(row.get("ingest_id") or 0))
            sys.stdout.flush()


def _filters(f: Any) -> Any:
    for opt in (
        click.option("--agent", help="agent_id equals."),
        click.option("--task", help="task_id equals."),
        click.option("--tool", help="tool_name equals."),
        click.option("--verdict", type=click.Choice(["allow", "block", "escalate"]), help="verdict equals."),
        click.option("--since", help="Only records at or after: ISO time, or 15m / 2h / 7d ago."),
    ):
        f = opt(f)
    return f


@command.command()
@_where
@_filters
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True, help="The newest N records.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_obj
@_guard
def query(
    obj: dict[str, Any],
    agent: str | None,
    task: str | None,
    tool: str | None,
    verdict: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """The newest records (up to --limit) matching every filter given, printed oldest first."""
    since_ts = _since(since)  # bad arguments exit 2 before anything is opened
    with _Store(obj) as store:
        newest = list(
            store.actions(
                agent=agent, task=task, tool=tool, verdict=verdict, since=since_ts, limit=limit, newest_first=True
            )
        )
        n = _emit(reversed(newest), as_json)
        if not as_json:
            click.echo(f"{n} record(s)", err=True)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, int(q * len(values)))]


@command.command()
@_where
@click.option("--since", help="Only records at or after: ISO time, or 15m / 2h / 7d ago.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Rows per breakdown.")
@click.pass_obj
@_guard
def stats(obj: dict[str, Any], since: str | None, as_json: bool, top: int) -> None:
    """Counts by verdict, agent and rule; p50/p99 decision latency."""
    by_verdict: Counter[str] = Counter()
    by_agent: Counter[str] = Counter()
    by_rule: Counter[str] = Counter()
    lat: list[float] = []
    total = 0
    since_ts = _since(since)
    with _Store(obj) as store:
        for r in store.actions(since=since_ts):
            total += 1
            by_verdict[r.get("verdict") or "?"] += 1
            by_agent[r.get("agent_id") or "-"] += 1
            if r.get("policy_name"):
                by_rule[r["policy_name"]] += 1
            if isinstance(r.get("latency_us"), int | float):
                lat.append(float(r["latency_us"]))
    report: dict[str, Any] = {
        "total": total,
        "by_verdict": dict(by_verdict.most_common()),
        "by_agent": dict(by_agent.most_common(top)),
        "by_rule": dict(by_rule.most_common(top)),
        "latency_us": {"p50": _pct(lat, 0.50), "p99": _pct(lat, 0.99), "count": len(lat)},
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"records: {total}")
    for title, key in (("verdict", "by_verdict"), ("agent", "by_agent"), ("rule", "by_rule")):
        click.echo(f"by {title}:")
        for k, v in report[key].items():
            click.echo(f"  {k:<32} {v}")
    p50, p99 = report["latency_us"]["p50"], report["latency_us"]["p99"]
    if p50 is not None:
        click.echo(f"decision latency: p50 {p50:.1f} us, p99 {p99:.1f} us ({len(lat)} decisions)")


_CSV_COLUMNS = (
    "id",
    "created_at",
    "agent_id",
    "task_id",
    "user_id",
    "tool_name",
    "verdict",
    "policy_name",
    "severity",
    "tier_used",
    "reasoning",
    "decision_id",
    "framework",
    "latency_us",
    "judge_model",
    "judge_latency_ms",
    "policy_revision",
    "mode",
    "would_block",
    "redacted",
    "payload",
    "findings",
    "writer_id",
    "seq",
    "prev_hash",
    "hash",
)


def _csv_rows(rows: Iterable[dict[str, Any]]) -> Iterator[list[Any]]:
    for r in rows:
        yield [
            json.dumps(r.get(c), ensure_ascii=False) if c in ("payload", "findings") else r.get(c) for c in _CSV_COLUMNS
        ]


@command.command()
@_where
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="File (default: stdout).")
@_filters
@click.option("--limit", type=click.IntRange(1), default=None, help="Most records (default: all).")
@_progress_option
@click.pass_obj
@_guard
def export(
    obj: dict[str, Any],
    fmt: str,
    output: IO[str],
    agent: str | None,
    task: str | None,
    tool: str | None,
    verdict: str | None,
    since: str | None,
    limit: int | None,
    progress: bool | None,
) -> None:
    """Every matching record, oldest first, as JSON lines or CSV."""
    since_ts = _since(since)  # bad arguments exit 2 before anything is opened
    with _Store(obj) as store, _Progress("export", progress) as prog:
        rows = prog.count(
            store.actions(agent=agent, task=task, tool=tool, verdict=verdict, since=since_ts, limit=limit)
        )
        if fmt == "jsonl":
            _emit(rows, True, output)
            return
        w = csv.writer(output)
        w.writerow(_CSV_COLUMNS)
        w.writerows(_csv_rows(rows))


@command.command()
@_where
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_progress_option
@click.pass_obj
@_guard
def verify(obj: dict[str, Any], as_json: bool, progress: bool | None) -> None:
    """Recompute every hash chain; name the first altered, inserted or deleted record (exit 1)."""
    from agentgate.audit import verify_rows

    with _Store(obj) as store, _Progress("verify", progress) as prog:
        report = verify_rows(prog.count(store.chain_rows()), store.violations())
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "records": report.records,
                    "chains": report.chains,
                    "problems": [
                        {"kind": p.kind, "message": p.message, "record_id": p.record_id, "seq": p.seq}
                        for p in report.problems
                    ],
                    "heads": {k: {"seq": s, "hash": h} for k, (s, h) in report.heads.items()},
                },
                indent=2,
            )
        )
    elif report.ok:
        click.echo(f"OK: {report.records} records in {report.chains} chain(s) verify")
        for wid, (seq, h) in sorted(report.heads.items()):
            click.echo(f"  head {wid}: seq {seq} hash {h}")
    else:
        first = report.first
        assert first is not None
        click.echo(f"FAILED: {first}", err=True)
        for p in report.problems[1:]:
            click.echo(f"  also: {p}", err=True)
    if not report.ok:
        sys.exit(1)


@command.command()
def schema() -> None:
    """Print the PostgreSQL/Supabase schema (paste into Supabase's SQL editor)."""
    from agentgate.audit._schema import postgres_ddl

    click.echo(postgres_ddl(), nl=False)


@command.command()
@_where
@click.pass_obj
@_guard
def migrate(obj: dict[str, Any]) -> None:
    """Create the tables or bring them to the current version (SQLite, PostgreSQL)."""
    from agentgate.audit._resolve import default_target, make_sink

    target = _target(obj) or default_target()
    try:
        sink = make_sink(target)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--db") from exc
    if sink is None or not hasattr(sink, "open") or type(sink).__name__ in ("SupabaseSink", "MemorySink"):
        raise click.UsageError(
            "migrate works on sqlite and postgresql targets; for Supabase use `agentgate audit schema`"
        )
    sink.open()
    sink.close()
    click.echo(f"{sink.describe()}: schema is current")
