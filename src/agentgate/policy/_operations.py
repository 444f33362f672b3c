"""The operation vocabulary, its synonyms and the subsumption table.

Built-in operations: ``read``, ``write``, ``delete``, ``execute``, ``send``,
``transfer``, ``configure``, ``deploy``, ``network``, ``admin``. Any other word is a
user-defined operation that matches only itself (case-insensitively).

Synonyms collapse to one canonical name (``config`` → ``configure``, ``pay`` →
``transfer``, ``rm`` → ``delete`` ...). Subsumption: allowing an operation also
allows the operations it subsumes; the table is deliberately small because every
entry widens what a scope grants:

=============  =====================================================
allowed        also allows
=============  =====================================================
``admin``      every built-in operation
``write``      nothing else (writing does not let an agent delete, send or pay)
``deploy``     ``execute`` (a deploy runs things on purpose)
=============  =====================================================

>>> canonical("config")
'configure'
>>> subsumes("admin", "delete")
True
>>> subsumes("write", "send")
False
"""

from __future__ import annotations

__all__ = ["BUILTIN_OPERATIONS", "SUBSUMES", "SYNONYMS", "canonical", "subsumes", "verb_operation"]

BUILTIN_OPERATIONS: frozenset[str] = frozenset(
    {"read", "write", "delete", "execute", "send", "transfer", "configure", "deploy", "network", "admin"}
)

_SYNONYM_LISTS: dict[str, tuple[str, ...]] = {
    "read": (
        "get",
        "list",
        "ls",
        "fetch_data",
        "query",
        "select",
        "search",
        "find",
        "lookup",
        "view",
        "show",
        "describe",
        "inspect",
        "tail",
        "monitor",
        "check",
        "aggregate",
        "summarize",
        "count",
        "load",
        "open",
        "cat",
        "head",
        "retrieve",
        "browse_files",
        "stat",
        "analyze",
        "report",
        "peek",
        "preview",
    ),
    "write": (
        "update",
        "create",
        "insert",
        "put",
        "modify",
        "edit",
        "save",
        "store",
        "upload",
        "append",
        "patch",
        "add",
        "rename",
        "move",
        "copy",
        "mkdir",
        "touch",
        "upsert",
        "replace",
        "write_file",
        "generate",
    ),
    "delete": (
        "remove",
        "rm",
        "drop",
        "truncate",
        "purge",
        "destroy",
        "wipe",
        "erase",
        "unlink",
        "rmdir",
        "del",
        "clear",
    ),
    "execute": ("exec", "run", "invoke", "eval", "spawn", "shell", "start", "stop", "restart", "kill", "call_process"),
    "send": (
        "email",
        "mail",
        "notify",
        "message",
        "forward",
        "broadcast",
        "publish",
        "reply",
        "sms",
        "tweet",
        "dm",
        "post_message",
        "share",
        "invite",
        "text",
    ),
    "transfer": ("pay", "payment", "refund", "withdraw", "charge", "wire", "payout", "remit", "deposit", "transact"),
    "configure": (
        "config",
        "configuration",
        "settings",
        "setting",
        "set_config",
        "setup",
        "tune",
        "toggle",
        "enable",
        "disable",
    ),
    "deploy": ("release", "rollout", "ship", "promote", "rollback", "scale", "provision"),
    "network": ("http", "fetch", "request", "download", "browse", "curl", "wget", "crawl", "scrape", "ping", "connect"),
    "admin": ("administer", "grant", "revoke", "sudo", "chmod", "chown", "ddl"),
}

#: word → canonical built-in operation.
SYNONYMS: dict[str, str] = {w: op for op, words in _SYNONYM_LISTS.items() for w in words}
SYNONYMS.update({op: op for op in BUILTIN_OPERATIONS})

#: allowed operation → the operations it also allows (besides itself).
SUBSUMES: dict[str, frozenset[str]] = {
    "admin": BUILTIN_OPERATIONS - {"admin"},
    "deploy": frozenset({"execute"}),
}


def canonical(op: str) -> str:
    """The canonical name of *op*: built-ins and synonyms map to a built-in; others to lower case."""
    low = op.strip().lower()
    return SYNONYMS.get(low, low)


def subsumes(allowed: str, op: str) -> bool:
    """True when allowing *allowed* also allows *op* (both canonical)."""
    return allowed == op or op in SUBSUMES.get(allowed, frozenset())


# Verb tokens seen in tool names, by the priority used when a name holds several
# (``send_payment`` is a transfer, ``delete_email`` a delete). Nouns only decide
# when there is no verb (``email_user``), or upgrade a generic write
# (``create_payment`` is a transfer, ``update_config`` a configure).
_NAME_PRIORITY = ("transfer", "delete", "deploy", "admin", "send", "execute", "configure", "write", "network", "read")
_RANK = {op: i for i, op in enumerate(_NAME_PRIORITY)}
_NOUN_OPS: dict[str, str] = {
    "email": "send",
    "mail": "send",
    "message": "send",
    "sms": "send",
    "tweet": "send",
    "notification": "send",
    "slack": "send",
    "payment": "transfer",
    "payments": "transfer",
    "funds": "transfer",
    "money": "transfer",
    "config": "configure",
    "configuration": "configure",
    "settings": "configure",
    "setting": "configure",
    "preferences": "configure",
    "flag": "configure",
    "flags": "configure",
    "url": "network",
    "web": "network",
    "webpage": "network",
    "http": "network",
    "api": "network",
    "shell": "execute",
    "command": "execute",
    "cmd": "execute",
    "bash": "execute",
    "script": "execute",
}
_NOUNS_ONLY = frozenset(_NOUN_OPS) - {"http", "shell"}
_NAME_VERBS: dict[str, str] = {}
for _op in reversed(_NAME_PRIORITY):
    for _w in (*_SYNONYM_LISTS[_op], _op):
        if _w not in _NOUNS_ONLY:
            _NAME_VERBS[_w] = _op
_NAME_VERBS.update(
    {
        "transfer": "transfer",
        "send": "send",
        "post": "send",
        "submit": "send",
        "execute": "execute",
        "set": "write",
        "deploy": "deploy",
        "delete": "delete",
        "fetch": "network",
        "download": "network",
        "read": "read",
        "write": "write",
        "make": "write",
        "get": "read",
    }
)
_UPGRADES_WRITE = frozenset({"transfer", "configure", "send"})


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


def verb_operation(tokens: list[str]) -> str | None:
    """Derive an operation from the lower-case tokens of a tool name.

    The first verb decides (tool names are verb-first); an unambiguous delete or
    transfer verb later in the name overrides it. Nouns decide only when there is
    no verb, or upgrade a generic write/send (``create_payment``, ``send_payment``:
    transfer; ``update_config``: configure).

    >>> verb_operation(["send", "email"]), verb_operation(["update", "config"]), verb_operation(["read", "config"])
    ('send', 'configure', 'read')
    >>> verb_operation(["transfer", "funds"]), verb_operation(["delete", "email"]), verb_operation(["read", "email"])
    ('transfer', 'delete', 'read')
    >>> verb_operation(["weather"]), verb_operation(["email", "user"]), verb_operation(["create", "payment"])
    (None, 'send', 'transfer')
    >>> verb_operation(["get", "release", "notes"]), verb_operation(["backup", "and", "delete"]), verb_operation(["send", "payment"])
    ('read', 'delete', 'transfer')
    """
    verb: str | None = None
    noun: str | None = None
    for tok in tokens:
        op = _NAME_VERBS.get(tok)
        if op and (verb is None or (tok in _OVERRIDING and _RANK[op] < _RANK[verb])):
            verb = op
        nop = _NOUN_OPS.get(tok)
        if nop and (noun is None or _RANK[nop] < _RANK[noun]):
            noun = nop
    if verb is None:
        return noun
    if verb in ("write", "send") and noun in _UPGRADES_WRITE and _RANK[noun] < _RANK[verb]:
        return noun
    return verb
