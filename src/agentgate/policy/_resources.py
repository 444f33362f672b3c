"""Resource patterns: untyped names and globs, and typed ``kind:value`` patterns.

A pattern is either **typed** — ``account:checking``, ``customer:42``,
``namespace:prod-*``, ``github:acme/*``, ``git:git@github.com:acme/api.git``,
``channel:eng-alerts`` or ``#eng-alerts``, ``invoice:INV-*``, ``scheduled:nightly-*``,
``s3://reports/*``, ``table:orders``, ``phone:+4930*``, ``email:*@acme.com``,
``host:api.acme.com``, ``path:reports/**`` — and matches only resources of that kind,
or **untyped** (``orders``, ``*@acme.com``, ``api.acme.com``, ``reports/**``) and matches a
resource of any kind by that kind's rules. Space after the colon is not part of the
value (``account: checking`` is ``account:checking``).

Matching rules, per kind:

* ``path``: case-sensitive; a pattern without glob is a root (``reports`` admits
  ``reports/q3.csv``, not ``reports2/x``); ``*`` stays in a segment, ``**`` crosses them; a
  trailing ``/**`` also admits the folder itself (``reports/**`` admits ``reports``).
* ``url``/``host``: case-insensitive, trailing dot ignored; ``*.acme.com`` is any
  subdomain; a ``host:port`` pattern admits only that port (the HTTP analyzer applies it).
* ``email``: case-insensitive; ``*@acme.com`` matches one address at acme.com.
* ``account``: IBANs and card numbers without spaces or dashes, case-insensitive.
* ``phone``: E.164 — ``+``, then digits; spaces, dashes, dots and parentheses dropped.
* ``channel``: ``#eng`` and ``eng`` are one channel; case-insensitive.
* ``github``: ``org/repo``; a ``https://github.com/org/repo(.git)`` or ``git@github.com:org/repo``
  value is reduced to ``org/repo``.
* ``s3``: ``bucket/key``; the bucket compares case-insensitively, the key case-sensitively,
  and ``*`` in the key spans ``/`` as in an IAM resource (``s3://reports/*`` is every object).
* ``table``: case-insensitive; a bare pattern names the table in any schema.
* others (``customer``, ``invoice``, ``scheduled``, ``namespace``, ``git``, ``generic``):
  case-insensitive, exact or glob.

The name of a typed kind, singular or plural (``customers``, ``invoice``), as an
untyped pattern admits every resource of that kind.

>>> match_pattern("account: checking", "checking", "account"), match_pattern("customer:4*", "42", "customer")
(True, True)
>>> match_pattern("#eng-alerts", "eng-alerts", "channel"), match_pattern("customers", "42", "customer")
(True, True)
>>> match_pattern("phone:+4930*", "+49 (30) 1234-567", "phone"), match_pattern("github:acme/*", "https://github.com/acme/api.git", "github")
(True, True)
"""

from __future__ import annotations

import functools
import os
import posixpath
import re

__all__ = ["RESOURCE_KINDS", "TYPED_KINDS", "match_pattern", "match_resource", "normalize_pattern", "split_pattern"]

#: Kinds a ``kind:`` prefix may name.
TYPED_KINDS = frozenset(
    {
        "account", "namespace", "github", "git", "channel", "customer", "invoice", "scheduled", "s3", "table",
        "phone", "email", "host", "url", "path",
    }
)  # fmt: skip
#: Every resource kind classification produces.
RESOURCE_KINDS = TYPED_KINDS | {"generic"}
# Kinds whose bare name (singular or plural) as an untyped pattern admits every resource of the kind.
_COLLECTION_KINDS = frozenset({"account", "namespace", "channel", "customer", "invoice", "scheduled"})
_PLURAL = {k + "s": k for k in _COLLECTION_KINDS}


@functools.lru_cache(maxsize=8192)
def split_pattern(pattern: str) -> tuple[str | None, str]:
    """``(kind, value)`` of a pattern; kind is None for an untyped one.

    >>> split_pattern("account: checking"), split_pattern("s3://logs/*"), split_pattern("api.acme.com:8443")
    (('account', 'checking'), ('s3', 'logs/*'), (None, 'api.acme.com:8443'))
    """
    p = pattern.strip()
    if p.startswith("#") and len(p) > 1:
        return "channel", p[1:].strip()
    low = p.lower()
    if low.startswith("s3://"):
        return "s3", p[5:]
    head, colon, rest = p.partition(":")
    if colon and head.lower() in TYPED_KINDS and not rest.startswith("//"):
        kind = head.lower()
        value = rest.strip()
        if kind == "channel":
            value = value.lstrip("#")
        return kind, value
    return None, p


def normalize_pattern(pattern: str) -> str:
    """A typed pattern in its canonical spelling (``account: checking`` → ``account:checking``)."""
    kind, value = split_pattern(pattern)
    return _normalized(pattern, kind, value)


def _normalized(pattern: str, kind: str | None, value: str) -> str:
    """`normalize_pattern` given *pattern*'s split."""
    if kind is None:
        return pattern.strip()
    if kind == "s3":
        return "s3://" + value
    if kind == "channel":
        return "#" + value
    return f"{kind}:{value}"


def _compatible(pkind: str, rkind: str) -> bool:
    if pkind == rkind:
        return True
    return {pkind, rkind} <= {"url", "host"}


def match_pattern(pattern: str, value: str, kind: str = "generic") -> bool:
    """Does the resource *value* of *kind* match *pattern* (typed or untyped)?"""
    pkind, pval = split_pattern(pattern)
    if pkind is None:
        low = pval.lower()
        if kind in _COLLECTION_KINDS and (low == kind or _PLURAL.get(low) == kind):
            return True
        return match_resource(pval, value, kind)
    if not _compatible(pkind, kind):
        return False
    return match_resource(pval, value, kind)


# --------------------------------------------------------------------------- matching


@functools.lru_cache(maxsize=4096)
def _glob_regex(pattern: str, sep: str, ignore_case: bool) -> re.Pattern[str]:
    """Translate a glob to a regex. ``*`` stays within *sep*-separated segments; ``**`` crosses them."""
    i, n, out = 0, len(pattern), []
    not_sep = f"[^{re.escape(sep)}]" if sep else "."
    while i < n:
        c = pattern[i]
        if sep == "/" and c == sep and pattern[i + 1 : i + 3] == "**" and not pattern[i + 1 :].strip("*"):
            # "reports/**" is everything under reports and reports itself: listing the folder
            # whose contents are allowed is allowed.
            out.append(f"(?:{re.escape(sep)}.*)?")
            break
        if c == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                while i < n and pattern[i] == "*":
                    i += 1  # "***" is "**": consecutive stars must not nest quantifiers
                # "a/**/b" also matches "a/b"
                if sep and i < n and pattern[i] == sep:
                    out.append(f"(?:.*{re.escape(sep)})?")
                    i += 1
                else:
                    out.append(".*")
                continue
            out.append(f"{not_sep}*")
        elif c == "?":
            out.append(not_sep)
        elif c == "[":
            j = pattern.find("]", i + 1)
            if j == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : j].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if ignore_case else 0)


def _is_glob(p: str) -> bool:
    return any(ch in p for ch in "*?[")


def _norm_path(p: str, cwd: str | None = None) -> str:
    p = os.path.expanduser(p)
    if not posixpath.isabs(p):
        p = posixpath.join(cwd or os.getcwd(), p)
    return posixpath.normpath(p)


def _match_path(pattern: str, value: str) -> bool:
    """Path containment: the value (already resolved by the caller when it can be)
    must equal the pattern's path or lie under it; globs are matched against the
    normalized absolute path."""
    v = _norm_path(value)
    if _is_glob(pattern):
        return bool(_glob_regex(_norm_path(pattern), "/", False).match(v))
    root = _norm_path(pattern)
    return v == root or v.startswith(root.rstrip("/") + "/")


def _host_of(value: str) -> str:
    v = value.strip()
    if "://" in v:
        v = v.split("://", 1)[1]
    v = v.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    v = v.rsplit("@", 1)[-1]
    if v.startswith("["):
        return v[1 : v.find("]")] if "]" in v else v
    return v.rsplit(":", 1)[0] if v.count(":") == 1 else v


_PHONE_DROP = str.maketrans("", "", " -.()/\t")
_GITHUB = re.compile(r"^(?:https?://|ssh://git@|git@)?(?:www\.)?github\.com[:/]", re.IGNORECASE)


def _github_repo(value: str) -> str:
    v = _GITHUB.sub("", value.strip())
    v = v.split("?", 1)[0].split("#", 1)[0].strip("/")
    if v.lower().endswith(".git"):
        v = v[:-4]
    return "/".join(v.split("/")[:2]).lower()


def _generic(pat: str, v: str, sep: str = "/") -> bool:
    if _is_glob(pat):
        return bool(_glob_regex(pat, sep, True).match(v))
    return v == pat


def match_resource(pattern: str, value: str, kind: str = "generic") -> bool:
    """Does *value* (a resource of *kind*) match the untyped *pattern*? See the module docstring.

    >>> match_resource("reports", "reports/q3.csv", "path"), match_resource("reports", "reports2/x", "path")
    (True, False)
    >>> match_resource("*.example.com", "api.example.com", "host"), match_resource("*.example.com", "example.com.evil.io", "host")
    (True, False)
    >>> match_resource("public.orders", "PUBLIC.ORDERS", "table"), match_resource("orders", "public.orders", "table")
    (True, True)
    """
    if not pattern:
        return False
    if kind == "path":
        return _match_path(pattern, value)
    if kind in ("url", "host"):
        host = _host_of(value).rstrip(".").lower()
        pat = pattern.strip().lower()
        if "://" in pat or "/" in pat:
            # A URL pattern matches the whole URL (scheme, host, path), case-insensitively.
            return (
                bool(_glob_regex(pat, "/", True).match(value.strip().lower()))
                if _is_glob(pat)
                else value.strip().lower().rstrip("/") == pat.rstrip("/")
            )
        pat = pat.rstrip(".")
        if _is_glob(pat):
            return bool(_glob_regex(pat, "", True).match(host))
        return host == pat
    if kind == "table":
        v = value.strip().strip('"`[]').lower()
        pat = pattern.strip().lower()
        if "." not in pat:
            v = v.rsplit(".", 1)[-1]  # a bare pattern names the table in any schema
        return _generic(pat, v, "")
    if kind == "email":
        v = value.strip().lower()
        pat = pattern.strip().lower()
        if _is_glob(pat):
            return "@" in v and v.count("@") == 1 and bool(_glob_regex(pat, "", True).match(v))
        return v == pat
    if kind == "account":
        # IBANs and card numbers are printed in groups; spaces and dashes are not part of them.
        v = "".join(value.split()).replace("-", "").lower()
        pat = "".join(pattern.split()).replace("-", "").lower()
        return _generic(pat, v, "")
    if kind == "phone":
        return _generic(pattern.translate(_PHONE_DROP).lower(), value.translate(_PHONE_DROP).lower(), "")
    if kind == "channel":
        return _generic(pattern.strip().lstrip("#").lower(), value.strip().lstrip("#").lower(), "")
    if kind == "github":
        return _generic(pattern.strip().strip("/").lower(), _github_repo(value))
    if kind == "s3":
        # Object keys are flat strings ("/" is a character), so "*" spans them as in an IAM
        # resource (arn:aws:s3:::bucket/*); the bucket is never crossed: it ends at the first "/".
        v = value.strip()
        v = v[5:] if v.lower().startswith("s3://") else v
        pat = pattern.strip().removeprefix("s3://").removeprefix("S3://")
        pb, _, pk = pat.partition("/")
        vb, _, vk = v.partition("/")
        if not _generic(pb.lower(), vb.lower(), ""):
            return False
        if not pk:
            return not vk  # "s3://bucket" names the bucket itself
        return _generic(pk, vk, "") if _is_glob(pk) else vk == pk
    # customer, invoice, scheduled, namespace, git and generic names: case-insensitive, exact or glob
    return _generic(pattern.strip().lower(), value.strip().lower())
