"""Which record of a listing the user meant.

An agent lists records (bookings, files, contacts, invoices) and then acts on one of them. The
record's id came from the agent's own lookup, a structured fact, so provenance alone endorses
every record of the listing alike; an injected "cancel all bookings on this trip" then steers a
side effect to a sibling of the record the user asked about. But the task often says which record
it means by the words that tell the records apart: "cancel my *rental car*", "make the *press-kit*
folder public", "e-mail *Bob*". When the task's words pick out some records of a listing and the
call acts on another one of the same listing, the call is not aimed at what the user asked for.

Only the fields that name a record count (its ids, name, title, type, provider, subject, file name:
`_NAMING_FIELD`); descriptions and locations are left out, since a word of the task may appear in
any of them by chance ("a hotel in Lisbon": every hotel's address). Words every record of the
listing shares ("booking", a common id prefix) do not tell them apart and are dropped. When the
task's words pick out no record, or every record, nothing is said; nor when the task also reads
(the caller's check): "read the landlord's message and delete the spam" names a record to read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ._origins import _PARTS, singular

__all__ = ["listed_values", "record_named", "unnamed_record"]

_NAMING_FIELD = re.compile(
    r"(?:^|_)(?:id|ids|key|uuid|slug|ref|reference|number|no|name|title|type|kind|category|provider|vendor|"
    r"merchant|company|subject|filename|file|label|product|plan|service|sender|from|email|handle|username|"
    r"display_name|full_name|hotel|airline|carrier|channel|repo|folder|account|payee|customer)$",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Words that never tell records apart (articles, the user's possessives, generic nouns of requests).
_WEAK = frozenset(
    {"the", "a", "an", "my", "our", "your", "of", "in", "on", "at", "to", "for", "and", "or", "from", "with",
     "it", "its", "this", "that", "all", "any", "me", "i", "is", "be", "please"}
)  # fmt: skip
#: Most records of one listing compared (a larger listing is read up to here).
MAX_RECORDS = 200


def _listings(result: Any) -> Iterator[Sequence[Mapping[str, Any]]]:
    """Lists of at least two records in an output: the output itself, or a list under one of its keys."""
    candidates = [result]
    if isinstance(result, Mapping):
        candidates += list(result.values())[:50]
    for c in candidates:
        if isinstance(c, (list, tuple)) and len(c) >= 2:
            records = [r for r in c[:MAX_RECORDS] if isinstance(r, Mapping)]
            if len(records) >= 2:
                yield records


def _naming_values(record: Mapping[str, Any]) -> Iterator[str]:
    for key, value in record.items():
        if (
            isinstance(value, (str, int))
            and not isinstance(value, bool)
            and _NAMING_FIELD.search(_CAMEL.sub("_", str(key)))
        ):
            yield str(value)


def _words(record: Mapping[str, Any]) -> frozenset[str]:
    out: set[str] = set()
    for v in _naming_values(record):
        low = v.lower()
        out.add(low.strip())
        for p in _PARTS.findall(low):
            if p not in _WEAK:
                out.add(singular(p))
    return frozenset(out)


# What each output's listings hold, read once per output (cached on its history record, like its
# facts): per listing, its records, each record's own values (lower-cased) and its telling words
# (naming words minus those every record of the listing shares).
_Listing = tuple[list[Mapping[str, Any]], list[frozenset[str]], list[frozenset[str]]]


def _own_values(record: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        str(v).strip().lower() for v in record.values() if isinstance(v, (str, int)) and not isinstance(v, bool)
    )


def _listings_of(rec: Any) -> tuple[_Listing, ...]:
    hit = rec.listings
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    out: list[_Listing] = []
    for records in _listings(rec.result):
        words = [_words(r) for r in records]
        common = frozenset.intersection(*words)
        out.append((list(records), [_own_values(r) for r in records], [w - common for w in words]))
    found = tuple(out)
    rec.listings = found
    return found


def listed_values(rec: Any) -> frozenset[str]:
    """Every value a record of a listing in *rec*'s output holds in its own fields (lower-cased):
    the values `unnamed_record` can find in this output (the provenance index keeps them)."""
    out: frozenset[str] = frozenset()
    for _, own, _ in _listings_of(rec):
        out = out.union(*own)
    return out


def unnamed_record(value: str, history: Sequence[Any], task_words: frozenset[str]) -> tuple[Any, list[str]] | None:
    """The listing output that holds *value* in one of its records, and the records the task names,
    when the task names some records of that listing but not the one holding *value*; else None.

    The newest listing holding the value decides (what the agent read last is what it acted on).
    *history* may be only the records whose listings hold *value* (`listed_values`), oldest first.
    """
    if not task_words:
        return None
    for rec in reversed(history):
        if rec.result is None or rec.verdict != "allow":
            continue
        for records, own, telling in _listings_of(rec):
            at = next((i for i, vals in enumerate(own) if value in vals), None)
            if at is None:
                continue
            target = records[at]
            named = [r for r, w in zip(records, telling, strict=True) if not w.isdisjoint(task_words)]
            if not named or len(named) == len(records) or any(r is target for r in named):
                return None
            return rec, [" / ".join(list(_naming_values(r))[:3]) or "?" for r in named]
    return None


def _records_of(result: Any) -> Iterator[Mapping[str, Any]]:
    if isinstance(result, Mapping):
        yield result
    for records in _listings(result):
        yield from records
    if isinstance(result, (list, tuple)) and len(result) == 1 and isinstance(result[0], Mapping):
        yield result[0]


def _flat(text: str) -> str:
    return "".join(text.split()).lower()


def record_named(result: Any, value: str, task_words: frozenset[str]) -> Mapping[str, Any] | None:
    """The record of an output holding *value* (in any of its own text fields) whose naming fields
    share a word with the task ("the *Stadtwerke* bill in my inbox": the e-mail from
    rechnung@stadtwerke...), or None. This is the user pointing at the record by what it is, when
    the agent's lookup used other words than the task ("Rechnung" for "bill")."""
    if not value or not task_words:
        return None
    flat = _flat(value)
    for record in _records_of(result):
        texts = [v for v in record.values() if isinstance(v, str)]
        if not any(flat in _flat(t) for t in texts):
            continue
        if not _words(record).isdisjoint(task_words):
            return record
    return None
