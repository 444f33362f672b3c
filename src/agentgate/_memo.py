"""The tier-1 memo: the static analysis of a call's arguments, reused for an identical call.

What the static analyzers (SQL, files, HTTP, shell, config, code, secrets, injection, and the
arguments analyzer when nothing is carried) say about a call, and its classification, is a pure
function of the firewall (its analyzer chain, settings and declared tools), the effective policy,
the tool name, the tool spec and the arguments. An agent repeats calls (the same lookup, the same
payee), so a `Firewall` keeps that part in a bounded (approximately LRU) map keyed by an exact canonical form of the
arguments, and reruns only what depends on the moment:

* the scope and value rules, history rules (counts, sums, in-flight reservations), the rate
  limiter, provenance (the context's recorded outputs), plans, delegation, mode, escape hatches,
  tier 2 and the audit record run on every call; the verdict (decision id, latency) is new each time;
* an analysis that read state outside the call (the file system for symlinks, the working directory,
  ``$HOME``, DNS, the clock) marks itself (`agentgate.analyzers.base.note_side_input`) and is
  not stored, and neither is one that hit the tier-1 budget (``tier1.budget``) or where an analyzer
  failed (``analyzer.error``): those are recomputed on every call;
* only arguments made of exact scalars (``str``, ``int``, ``float``, ``bool``, ``None``,
  ``bytes``) in small dicts, lists and tuples are keyed (at most `MAX_CHARS` characters and
  `MAX_ITEMS` values); anything else (objects, subclasses, large payloads) is analyzed every time.
  ``1``, ``1.0`` and ``True`` are different keys, and so are ``0.0`` and ``-0.0``;
* the memo belongs to one firewall (a policy swap or hot reload builds a new firewall, so a new
  memo), is keyed by the policy layers in force, compared by value (a scope entered again with the
  same arguments finds what the last one stored; any difference, even in the task text, is another
  key), is emptied when
  ``register_tools`` changes the declared tools, and an entry made before an operation was
  declared (``declare_operations``) is not used.

``AGENTGATE_TIER1_MEMO=0``, or ``Firewall(settings=AnalyzerSettings(extra={"tier1_memo": False}))``,
turns it off.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._call import ToolCall
from ._decision import Effect, Finding, Severity
from .analyzers.arguments import carried_calls
from .analyzers.base import BudgetExceeded, Context, budget_finding, side_inputs_begin, side_inputs_end
from .policy._operations import declared_version

if TYPE_CHECKING:
    from .analyzers import Analyzer
    from .analyzers.classify import Classification

__all__ = [
    "MAX_CHARS",
    "MAX_ENTRIES",
    "MAX_ITEMS",
    "MemoEntry",
    "Tier1Memo",
    "analyze",
    "analyze_and_store",
    "analyze_hit",
    "canonical_arguments",
]

logger = logging.getLogger("agentgate")

#: What an analyzer of the chain is to the memo.
ALWAYS = 0  # runs on every call
STATIC = 1  # its findings are stored
ARGUMENTS = 2  # stored when the call carries no other call (a carried call is judged by the whole chain)

#: Entries per firewall.
MAX_ENTRIES = 4096
#: Characters of string (and bytes) values a keyed call may hold in all.
MAX_CHARS = 2048
#: Values (scalars and containers) a keyed call may hold in all.
MAX_ITEMS = 64
_MAX_DEPTH = 4

# Rules whose findings must be recomputed: they describe this run, not the arguments.
UNCACHEABLE_RULES = frozenset({"tier1.budget", "analyzer.error"})


def enabled(settings: Any) -> bool:
    """Whether a firewall with these analyzer settings keeps a memo (``AGENTGATE_TIER1_MEMO=0``, or
    ``extra={"tier1_memo": False}`` in its `AnalyzerSettings`, turns it off)."""
    flag = settings.extra.get("tier1_memo") if settings.extra else None
    if flag is not None:
        return bool(flag)
    return os.environ.get("AGENTGATE_TIER1_MEMO", "1").strip().lower() not in ("0", "false", "no", "off")


class _TooBigError(Exception):
    pass


def _canon(v: Any, budget: list[int], depth: int) -> Any:
    t = type(v)
    if t is str:
        budget[0] -= len(v)
        budget[1] -= 1
        if budget[0] < 0 or budget[1] < 0:
            raise _TooBigError
        return v  # a str never equals a value of another type, so it needs no tag
    budget[1] -= 1
    if budget[1] < 0 or depth > _MAX_DEPTH:
        raise _TooBigError
    if v is None:
        return None
    if t is int or t is bool:
        return (t, v)  # 1 == 1.0 == True: the type keeps them apart
    if t is float:
        return (float, repr(v))  # -0.0 == 0.0, and nan != nan: the text is exact
    if t is bytes:
        budget[0] -= len(v)
        if budget[0] < 0:
            raise _TooBigError
        return (bytes, v)
    if t is list or t is tuple:
        return (t, tuple(_canon(x, budget, depth + 1) for x in v))
    if t is dict:
        return (dict, tuple((_canon(k, budget, depth + 1), _canon(x, budget, depth + 1)) for k, x in v.items()))
    raise _TooBigError  # objects, subclasses, sets ...: no exact, cheap form


def canonical_arguments(arguments: Any) -> tuple[Any, ...] | None:
    """An exact, hashable form of *arguments* (a dict), or None when it has none that is cheap.

    Two argument dicts with the same form are equal value by value, type by type and in the same
    order, so every analyzer reads them the same way.

    >>> canonical_arguments({"customer_id": "42"})
    ('customer_id', '42')
    >>> canonical_arguments({"n": 1}) == canonical_arguments({"n": 1.0}), canonical_arguments({"x": object()})
    (False, None)
    """
    if type(arguments) is not dict:
        return None
    out: list[Any] = []
    chars = MAX_CHARS
    items = MAX_ITEMS
    # A str value is itself; every other value is None or a tuple, so the two never collide.
    for k, v in arguments.items():
        if type(k) is not str:
            return None
        t = type(v)
        items -= 1
        if t is str:  # the common cases inline
            chars -= len(v)
            if chars < 0 or items < 0:
                return None
            out.append(k)
            out.append(v)
            continue
        if items < 0:
            return None
        out.append(k)
        if t is float:
            out.append((float, repr(v)))
        elif t is int or t is bool:
            out.append((t, v))
        elif v is None:
            out.append(None)
        else:
            budget = [chars, items + 1]
            try:
                out.append(_canon(v, budget, 1))
            except (_TooBigError, RecursionError):
                return None
            chars, items = budget
    return tuple(out)


class MemoEntry:
    """What tier 1 stored for one (policy, tool, spec, arguments)."""

    __slots__ = ("classification", "found", "ops_version", "quiet", "sql", "used")

    quiet: tuple[Analyzer, ...] | None

    def __init__(
        self,
        classification: Classification,
        found: tuple[tuple[Finding, ...] | None, ...],
        sql: dict[str, Any] | None,
        ops_version: int,
        chain: Sequence[Analyzer] = (),
    ) -> None:
        self.classification = classification
        #: Per analyzer of the chain: its stored findings, or None when it runs on every call.
        self.found = found
        #: When no stored analyzer found anything (the common allowed call): the analyzers that run
        #: on every call, the only ones a hit needs to visit. None otherwise.
        quiet = bool(chain) and len(chain) == len(found) and not any(found)
        self.quiet = tuple(a for a, f in zip(chain, found, strict=True) if f is None) if quiet else None
        #: The SQL analyses the analyzer left in the context's scratch (escape hatches read them).
        self.sql = sql
        self.ops_version = ops_version
        #: Set on each hit, cleared as eviction passes over it (a second chance: approximate LRU).
        self.used = False


class Tier1Memo:
    """A bounded, approximately-LRU map of `MemoEntry` (CLOCK: a hit marks its entry, and eviction
    gives a marked entry a second chance). A lookup takes no lock; a store takes one."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._max = max_entries
        self._d: dict[tuple[Any, ...], MemoEntry] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> MemoEntry | None:
        """The entry for *key* (made the most recently used), or None."""
        e = self._d.get(key)  # atomic under the GIL; stores and evictions hold the lock
        if e is None:
            self.misses += 1
            return None
        e.used = True
        self.hits += 1
        return e

    def put(self, key: tuple[Any, ...], entry: MemoEntry) -> None:
        """Store *entry*, dropping the least recently used when full."""
        d = self._d
        with self._lock:
            d.pop(key, None)
            passes = len(d)  # one pass clears every mark, so this ends
            while len(d) >= self._max:
                old = next(iter(d))
                e = d.pop(old)
                if e.used and passes > 0:
                    e.used = False
                    d[old] = e  # recently used: to the back of the queue
                    passes -= 1
            d[key] = entry

    def clear(self) -> None:
        """Forget every entry (declared tools changed)."""
        with self._lock:
            self._d.clear()

    def __len__(self) -> int:
        return len(self._d)


def cacheable(findings: Sequence[Finding]) -> bool:
    """Whether these findings describe the arguments only (no budget escalation, no analyzer crash)."""
    return not any(f.rule_id in UNCACHEABLE_RULES for f in findings)


def _failed(analyzer: Any, e: Exception) -> Finding:
    # An analyzer bug must not become an allow.
    logger.exception("agentgate analyzer %r failed", getattr(analyzer, "__name__", analyzer))
    return Finding(
        "analyzer.error",
        Severity.HIGH,
        Effect.ESCALATE,
        f"analyzer {getattr(analyzer, '__name__', type(analyzer).__name__)} failed: {type(e).__name__}: {e}",
    )


def analyze(
    chain: Sequence[Analyzer], call: ToolCall, ctx: Context, per: list[tuple[Finding, ...]] | None = None
) -> tuple[list[Finding], bool]:
    """Run *chain* on *call*: (findings, whether every analyzer ran to its end).

    The tier-1 budget is checked between analyzers (and by analyzers inside long loops); past
    it the call gets a ``tier1.budget`` escalation and the rest of the chain does not run. With
    *per*, each analyzer's findings are also appended there, in chain order.
    """
    findings: list[Finding] = []
    deadline = ctx.deadline
    for analyzer in chain:
        if deadline is not None and ctx.over_budget():
            findings.append(budget_finding(ctx, analyzer))
            return findings, False
        try:
            found = analyzer(call, ctx)
        except BudgetExceeded:
            findings.append(budget_finding(ctx, analyzer))
            return findings, False
        except Exception as e:
            f = _failed(analyzer, e)
            findings.append(f)
            if per is not None:
                per.append((f,))
            continue
        if found:  # most analyzers find nothing on most calls
            findings.extend(found)
        if per is not None:
            per.append(tuple(found) if found else ())
    if deadline is not None and chain and ctx.over_budget():  # the last analyzer ran past it
        findings.append(budget_finding(ctx, chain[-1]))
        return findings, False
    return findings, True


def analyze_and_store(
    memo: Tier1Memo, key: tuple[Any, ...], chain: Sequence[Analyzer], kinds: Sequence[int], call: ToolCall, ctx: Context
) -> list[Finding]:
    """`analyze`, then store the static analyzers' findings under *key* when they can be reused."""
    per: list[tuple[Finding, ...]] = []
    ops_version = declared_version()
    prev = side_inputs_begin()
    try:
        findings, complete = analyze(chain, call, ctx, per)
    finally:
        side = side_inputs_end(prev)
    if not complete or side:
        return findings
    stored: list[tuple[Finding, ...] | None] = []
    for kind, found in zip(kinds, per, strict=True):
        if kind == ARGUMENTS and carried_calls(call, ctx):
            kind = ALWAYS
        if kind == ALWAYS:
            stored.append(None)
        elif not cacheable(found):
            return findings
        else:
            stored.append(found)
    sql = ctx.scratch.get("sql")
    memo.put(key, MemoEntry(ctx.classification, tuple(stored), dict(sql) if sql else None, ops_version, chain))
    return findings


def analyze_hit(chain: Sequence[Analyzer], entry: MemoEntry, call: ToolCall, ctx: Context) -> list[Finding]:
    """The stored findings of the static analyzers, and the others run now, in chain order."""
    findings: list[Finding] = []
    quiet = entry.quiet
    if quiet is not None:
        for analyzer in quiet:
            try:
                found = analyzer(call, ctx)
            except Exception as e:
                findings.append(_failed(analyzer, e))
                continue
            if found:
                findings.extend(found)
        return findings
    for analyzer, stored in zip(chain, entry.found, strict=True):
        if stored is None:
            try:
                found = analyzer(call, ctx)
            except Exception as e:  # no budget on a stored call: it is small
                findings.append(_failed(analyzer, e))
                continue
            if found:
                findings.extend(found)
        elif stored:
            findings.extend(stored)
    return findings
