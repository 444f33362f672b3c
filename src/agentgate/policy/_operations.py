"""The operation vocabulary: effects, synonyms for reading tool names, and implications.

Operations name **effects**, independent of the medium: ``read``, ``write``,
``delete``, ``execute``, ``send``, ``transfer``, ``configure``. A policy may also
use user-defined operations, declared under ``operations:`` in agentgate.yaml (or
with `declare_operations`) so that a typo is an error, never a silent new word.
``network``, ``deploy`` and ``admin`` are retired: naming them is a `ConfigError`
that says what to write instead.

No operation implies another (`IMPLIES` is the whole table, and it is empty on
purpose): allowing ``write`` does not allow ``delete``, ``send`` or ``transfer``;
allowing ``delete`` of rows does not allow ``DROP``/``TRUNCATE`` (the SQL analyzer's
``sql.drop``/``sql.truncate`` rules hold whatever the scope grants).

Synonyms are only for **reading tool names** (``remove_file`` is a delete,
``pay_invoice`` a transfer); a policy must spell operations by their names.

>>> canonical("rm"), canonical("pay"), canonical("scale")
('delete', 'transfer', 'configure')
>>> check_operation("network")
Traceback (most recent call last):
...
ValueError: operation 'network' is retired: HTTP GET/HEAD/OPTIONS are 'read', POST/PUT/PATCH 'write' ('send' to a messaging endpoint), DELETE 'delete'
>>> check_operation("wirte")
Traceback (most recent call last):
...
ValueError: unknown operation 'wirte' (did you mean 'write'?); built-in operations are configure, delete, execute, read, send, transfer, write; declare others under operations:
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Collection, Iterable

__all__ = [
    "BUILTIN_OPERATIONS",
    "IMPLIES",
    "RETIRED_OPERATIONS",
    "SYNONYMS",
    "canonical",
    "check_operation",
    "declare_operations",
    "declared_operations",
    "subsumes",
    "verb_operation",
]

BUILTIN_OPERATIONS: frozenset[str] = frozenset({"read", "write", "delete", "execute", "send", "transfer", "configure"})

#: Retired operation → what to write instead (the ConfigError's text).
RETIRED_OPERATIONS: dict[str, str] = {
    "network": "HTTP GET/HEAD/OPTIONS are 'read', POST/PUT/PATCH 'write' ('send' to a messaging endpoint), DELETE 'delete'",
    "deploy": "scaling, restarts, rollouts and releases are 'configure'; running a job is 'execute'",
    "admin": "IAM, grants, roles and server settings are 'configure'; additive DDL is 'write', DROP/TRUNCATE 'delete'",
}

#: allowed operation → further operations it allows. Empty on purpose: see the module docstring.
IMPLIES: dict[str, frozenset[str]] = {}

_SYNONYM_LISTS: dict[str, tuple[str, ...]] = {
    "read": (
        "get", "list", "ls", "query", "select", "search", "find", "lookup", "view", "show", "describe",
        "inspect", "tail", "monitor", "check", "aggregate", "summarize", "count", "load", "open", "cat",
        "head", "retrieve", "stat", "analyze", "report", "peek", "preview", "fetch", "download", "browse",
        "curl", "wget", "crawl", "scrape", "ping", "read", "watch", "poll", "export_view",
    ),
    "write": (
        "update", "create", "insert", "put", "modify", "edit", "save", "store", "upload", "append", "patch",
        "add", "rename", "move", "copy", "mkdir", "touch", "upsert", "replace", "generate", "write", "commit",
        "push", "sync", "import", "set", "make", "approve", "assign", "tag", "label", "archive", "merge",
        "close", "reopen", "comment", "review", "pin", "unpin", "star", "fork", "resolve", "schedule", "book",
    ),
    "delete": (
        "remove", "rm", "drop", "truncate", "purge", "destroy", "wipe", "erase", "unlink", "rmdir", "del",
        "clear", "delete", "cancel", "revoke_file", "trash", "discard", "expunge", "shred",
    ),
    "execute": ("exec", "run", "invoke", "eval", "spawn", "shell", "start", "stop", "kill", "execute", "trigger"),
    "send": (
        "email", "mail", "notify", "message", "forward", "broadcast", "publish", "reply", "sms", "tweet",
        "dm", "share", "invite", "text", "send", "post", "submit", "page", "alert",
    ),
    "transfer": (
        "pay", "payment", "refund", "withdraw", "charge", "wire", "payout", "remit", "deposit", "transact",
        "transfer", "disburse",
    ),
    "configure": (
        "config", "configuration", "settings", "setting", "setup", "tune", "toggle", "enable", "disable",
        "configure", "scale", "restart", "reboot", "rollout", "rollback", "release", "ship", "promote",
        "provision", "deploy", "grant", "revoke", "chmod", "chown", "administer", "resize", "autoscale",
        "cordon", "drain", "failover",
    ),
}  # fmt: skip

#: word → built-in operation (for reading tool names; policies use the names themselves).
SYNONYMS: dict[str, str] = {w: op for op, words in _SYNONYM_LISTS.items() for w in words}
SYNONYMS.update({op: op for op in BUILTIN_OPERATIONS})

_declared: set[str] = set()
_declared_lock = threading.Lock()
_declared_version = [0]


def declare_operations(names: Iterable[str]) -> None:
    """Declare user-defined operations for ``scope()`` in code (agentgate.yaml uses ``operations:``).

    A declared name is an operation of its own: it matches only itself, and tool
    names containing it as a word are classified as it.
    """
    new = set()
    for n in names:
        low = n.strip().lower()
        if low in RETIRED_OPERATIONS:
            raise ValueError(f"operation {low!r} is retired: {RETIRED_OPERATIONS[low]}")
        if not low or not low.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"operation names are words (letters, digits, _ or -), not {n!r}")
        if low not in BUILTIN_OPERATIONS:
            new.add(low)
    with _declared_lock:
        if new - _declared:
            _declared.update(new)
            _declared_version[0] += 1


def declared_operations() -> frozenset[str]:
    """The user-defined operations declared in this process."""
    return frozenset(_declared)


def declared_version() -> int:
    """Bumped whenever a declaration adds a name (classification caches key on it)."""
    return _declared_version[0]


def check_operation(name: str, declared: Collection[str] | None = None) -> str:
    """Validate a policy's operation name and return it in lower case.

    Raises ValueError for a retired name (saying what replaces it) and for an
    undeclared one (with a did-you-mean). *declared* defaults to the names declared
    in this process.
    """
    if not isinstance(name, str):
        raise ValueError(f"an operation is a string, not {name!r}")
    low = name.strip().lower()
    if low in BUILTIN_OPERATIONS:
        return low
    if low in RETIRED_OPERATIONS:
        raise ValueError(f"operation {low!r} is retired: {RETIRED_OPERATIONS[low]}")
    known = set(declared if declared is not None else _declared)
    if low in known:
        return low
    pool = sorted(BUILTIN_OPERATIONS | known)
    close = difflib.get_close_matches(low, pool, n=1, cutoff=0.6)
    if not close and low in SYNONYMS:
        close = [SYNONYMS[low]]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"unknown operation {low!r}{hint}; built-in operations are {', '.join(sorted(BUILTIN_OPERATIONS))}; "
        "declare others under operations:"
    )


def canonical(op: str) -> str:
    """The operation a word names when reading a tool name: a synonym's built-in, else the word."""
    low = op.strip().lower()
    return SYNONYMS.get(low, low)


def subsumes(allowed: str, op: str) -> bool:
    """True when allowing *allowed* also allows *op* (only itself, plus `IMPLIES`)."""
    return allowed == op or op in IMPLIES.get(allowed, frozenset())


# Verb tokens seen in tool names, by the priority used when a name holds several
# (``send_payment`` is a transfer, ``delete_email`` a delete). Nouns only decide
# when there is no verb (``email_user``), or upgrade a generic write
# (``create_payment`` is a transfer, ``update_config`` a configure).
_NAME_PRIORITY = ("transfer", "delete", "configure", "send", "execute", "write", "read")
_RANK = {op: i for i, op in enumerate(_NAME_PRIORITY)}
_NOUN_OPS: dict[str, str] = {
    **dict.fromkeys(("email", "mail", "message", "messages", "sms", "tweet", "notification", "slack", "dm"), "send"),
    **dict.fromkeys(
        ("payment", "payments", "funds", "money", "payee", "payees", "beneficiary", "beneficiaries",
         "allowance", "spender", "wire", "payout"),
        "transfer",
    ),
    **dict.fromkeys(
        ("config", "configuration", "settings", "setting", "preferences", "flag", "flags", "dns", "iam",
         "role", "roles", "permission", "permissions", "acl", "acls", "policy", "replicas", "firewall",
         "quota", "quotas", "feature"),
        "configure",
    ),
    **dict.fromkeys(("shell", "command", "cmd", "bash", "script"), "execute"),
}  # fmt: skip
# Words that are nouns when they appear in a tool name, never the verb.
_NOUNS_ONLY = frozenset(_NOUN_OPS) - {"shell", "wire"}
_NAME_VERBS: dict[str, str] = {}
for _op in reversed(_NAME_PRIORITY):
    for _w in _SYNONYM_LISTS[_op]:
        if _w not in _NOUNS_ONLY:
            _NAME_VERBS[_w] = _op
_NAME_VERBS.update({op: op for op in BUILTIN_OPERATIONS})
# Words that read as verbs but say nothing about the effect on their own.
for _w in ("request", "http", "connect", "call", "api"):
    _NAME_VERBS.pop(_w, None)
_UPGRADES = frozenset({"transfer", "configure", "send"})
# An approval of a token/allowance moves money (ERC-20 approve); other approvals are writes.
_APPROVE_TRANSFER = frozenset({"token", "tokens", "allowance", "spender", "erc20"})

# Verbs that change what a name means wherever they stand (``backup_and_delete``,
# ``refund_and_transfer``): they override an earlier, milder verb. Other words that
# could be nouns (``release`` in ``get_release_notes``, ``run`` in ``get_run_status``)
# only count as the verb when they come first.
_OVERRIDING = frozenset(
    {
        "delete",
        "remove",
        "purge",
        "destroy",
        "wipe",
        "erase",
        "truncate",
        "transfer",
        "wire",
        "withdraw",
        "pay",
        "refund",
    }
)


def verb_operation(tokens: list[str] | tuple[str, ...], declared: Collection[str] = ()) -> str | None:
    """Derive an operation from the lower-case tokens of a tool name.

    A declared user-defined operation among the tokens wins. Otherwise the first
    verb decides (tool names are verb-first); an unambiguous delete or transfer verb
    later in the name overrides it. Nouns decide only when there is no verb, or
    upgrade a generic write/send (``create_payment``: transfer; ``update_config``,
    ``set_dns_record``: configure; ``update_payee``: transfer).

    >>> verb_operation(["send", "email"]), verb_operation(["update", "config"]), verb_operation(["read", "config"])
    ('send', 'configure', 'read')
    >>> verb_operation(["transfer", "funds"]), verb_operation(["delete", "email"]), verb_operation(["read", "email"])
    ('transfer', 'delete', 'read')
    >>> verb_operation(["weather"]), verb_operation(["email", "user"]), verb_operation(["create", "payment"])
    (None, 'send', 'transfer')
    >>> verb_operation(["get", "release", "notes"]), verb_operation(["scale", "deployment"]), verb_operation(["approve", "token"])
    ('read', 'configure', 'transfer')
    >>> verb_operation(["aggregate", "sales"], declared={"aggregate"})
    'aggregate'
    """
    if declared:
        for tok in tokens:
            if tok in declared:
                return tok
    verb: str | None = None
    first = ""
    noun: str | None = None
    for tok in tokens:
        op = _NAME_VERBS.get(tok)
        if op and (verb is None or (tok in _OVERRIDING and _RANK[op] < _RANK[verb])):
            if verb is None:
                first = tok
            verb = op
        nop = _NOUN_OPS.get(tok)
        if nop and (noun is None or _RANK[nop] < _RANK[noun]):
            noun = nop
    if first == "approve" and _APPROVE_TRANSFER.intersection(tokens):
        return "transfer"
    if verb is None:
        return noun
    if noun is None or verb not in ("write", "send", "delete"):
        return verb
    if verb == "write" and noun in _UPGRADES:
        return noun  # create_payment, update_config, create_message
    if verb == "send" and noun == "transfer":
        return noun  # send_payment
    if verb == "delete" and noun in ("transfer", "configure"):
        return noun  # delete_payee is a payee change, delete_dns_record configures DNS
    return verb
