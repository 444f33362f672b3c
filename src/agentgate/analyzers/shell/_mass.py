"""Shell analyzer: mass deletion by enumeration, one item at a time.

A deletion whose targets are only known at run time because another command lists
them (``redis-cli --scan --pattern 'session:*' | xargs redis-cli del``,
``redis-cli del $(redis-cli keys '*')``, ``ls ~ | xargs rm -rf``,
``kubectl get pods -o name | xargs kubectl delete``, ``... | while read k; do redis-cli
del "$k"; done``) deletes everything the listing matched. Judged by the pair:

* the deleting command and the listing work on the same store (Redis keys, files,
  containers, cluster objects, bucket objects);
* a listing of *everything* (a Redis pattern with ``*``, ``KEYS *``, ``ls`` of the root, the
  home directory, a personal or top-level folder) makes it
  ``shell.destructive`` block; a narrower listing of the same store (a label selector, a
  plain ``ls`` of the working directory) escalates: a human says whether the set is right.
  ``find`` keeps its own rule, which reads its filters.

A listing piped into something that does not delete (``| wc -l``, ``| xargs redis-cli
ttl``), a deletion of literal items (``echo k1 k2 | xargs redis-cli del``), and stores
the rule does not list (``git branch --merged | xargs git branch -d``) pass.
"""

from __future__ import annotations

import posixpath

from agentgate.analyzers.shell._parse import Script, _iter_commands
from agentgate.analyzers.shell._rules import (
    _BLOCK,
    _ESC,
    _PERSONAL,
    _ROOT,
    _SYS,
    _TOP,
    _danger,
    _emit,
    _path,
    _split_opts,
    _State,
    _words,
)

__all__ = ["deletion", "enumeration", "mass_delete", "substituted"]

_REDIS_TAKES = _words("-h -p -a -n -u -s --user --pass --cacert --cert --key -i -r -d --pattern --count --type")
_REDIS_DELETE = _words("del unlink hdel srem zrem expire pexpire getdel")


def _redis_ops(args: list[str]) -> list[str]:
    ops: list[str] = []
    k = 0
    while k < len(args):
        a = args[k]
        if a in _REDIS_TAKES:
            k += 2
            continue
        if not a.startswith("-"):
            ops.append(a)
        k += 1
    return ops


def deletion(base: str, args: list[str]) -> str | None:
    """The store *base* *args* deletes items of, one item per operand, if it does."""
    if base in ("rm", "unlink", "shred", "rmdir"):
        return "files"
    if base == "redis-cli":
        ops = _redis_ops(args)
        return "redis" if ops and ops[0].lower() in _REDIS_DELETE else None
    _opts, ops = _split_opts(args)
    verb = ops[:1]
    if base in ("docker", "podman") and (
        verb in (["rm"], ["rmi"]) or ops[:2] in (["container", "rm"], ["image", "rm"])
    ):
        return "containers"
    if base == "kubectl" and verb == ["delete"]:
        return "cluster objects"
    if (base == "aws" and ops[:2] == ["s3", "rm"]) or (base == "gsutil" and verb in (["rm"], ["del"])):
        return "bucket objects"
    return None


def enumeration(base: str, args: list[str], st: _State) -> tuple[str, str, bool] | None:
    """(store, what is listed, whether it is everything) when *base* *args* lists items of a store."""
    if base == "redis-cli":
        ops = _redis_ops(args)
        if "--scan" in args:
            pattern = next((args[k + 1] for k in range(len(args) - 1) if args[k] == "--pattern"), "*")
            return "redis", f"every key matching {pattern!r}", "*" in pattern
        if ops and ops[0].lower() == "keys":
            pattern = ops[1] if len(ops) > 1 else "*"
            return "redis", f"every key matching {pattern!r}", "*" in pattern
        return None
    if base == "ls":
        # find has its own rule (-delete, -exec rm, | xargs rm) that knows its filters
        _opts, ops = _split_opts(args)
        if not ops:
            return "files", "everything in the working directory", False
        whys = [_danger(_path(r, st), st) for r in ops]
        broad = next((w for w in whys if w in (_ROOT, _SYS, _TOP, _PERSONAL)), None)
        return ("files", f"everything in {broad}", True) if broad else None
    _opts, ops = _split_opts(args)
    if base in ("docker", "podman") and ops[:1] in (["ps"], ["images"]):
        # containers and images are rebuilt from their definitions: a human confirms, no block
        return "containers", f"every {'container' if ops[0] == 'ps' else 'image'} listed", False
    if base == "kubectl" and ops[:1] == ["get"]:
        return "cluster objects", f"every {' '.join(ops[1:2]) or 'object'} listed", "-l" not in args
    if (base == "aws" and ops[:2] == ["s3", "ls"]) or (base == "gsutil" and ops[:1] == ["ls"]):
        return "bucket objects", "every object listed", True
    return None


def _emit_mass(st: _State, store: str, what: str, broad: bool, shown: str) -> None:
    _emit(
        st,
        "shell.destructive",
        _BLOCK if broad else _ESC,
        f"deletes {what} one by one ({store}): a mass deletion by enumeration",
        shown,
    )


def mass_delete(stages: list[tuple[str, list[str], str | None]], st: _State) -> None:
    """*stages*: (command, argv, store it deletes per item from its input) along one pipeline."""
    for j, (_name, _argv, store) in enumerate(stages):
        if store is None:
            continue
        for name, argv, _d in stages[:j]:
            got = enumeration(name, argv, st) if name else None
            if got is not None and got[0] == store:
                _emit_mass(st, store, got[1], got[2], f"{name} ... | {stages[j][0]}")
                break


def substituted(base: str, args: list[str], subs: list[Script], st: _State, shown: str) -> None:
    """``redis-cli del $(redis-cli keys '*')``: a deletion whose operands a listing prints."""
    store = deletion(base, args)
    if store is None:
        return
    for sub in subs:
        for c in _iter_commands(sub):
            if not c.words:
                continue
            name = posixpath.basename(c.words[0].text)
            got = enumeration(name, [w.text for w in c.words[1:]], st)
            if got is not None and got[0] == store:
                _emit_mass(st, store, got[1], got[2], shown)
                return
