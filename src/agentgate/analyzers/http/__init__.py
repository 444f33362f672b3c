"""HTTP / SSRF analyzer: where would this call make the agent's host connect?

A URL is parsed the way real clients parse it (WHATWG for browsers, httpx and
curl-like tools; RFC 3986 / ``urllib`` for ``requests``), every host it could
mean is reduced to addresses, and every address is checked. Host names are
resolved (cached, time-bounded) so ``internal.example.com → 10.0.0.5`` is seen.
`agentgate.http` then makes the fetch connect only to the addresses vetted here,
which closes DNS rebinding.

Rules (effects for URLs the tool will fetch; see "Tiers" below):

========================  ========  ============================================================
rule                      effect    why
========================  ========  ============================================================
``http.metadata``         block     cloud metadata (AWS incl. ``fd00:ec2::254`` and ECS
                                    ``169.254.170.2``, GCP, Azure, Alibaba, Oracle, DigitalOcean,
                                    Tencent) hands out credentials
``http.loopback``         block     ``127/8``, ``::1``, ``localhost`` and its aliases: the agent's
                                    own machine (admin ports, local daemons)
``http.private``          block     RFC 1918, CGNAT ``100.64/10``, ULA ``fc00::/7``, cluster names
``http.link_local``       block     ``169.254/16``, ``fe80::/10``
``http.unspecified``      block     ``0.0.0.0/8`` and ``::`` reach local services on Linux
``http.multicast``        block     ``224/4``, ``ff00::/8``
``http.reserved``         block     documentation, benchmarking, ``240/4``, anything not global
``http.obfuscated_ip``    block     an address written as decimal/octal/hex/short form (escalate
                                    when it is public: no benign client writes one)
``http.userinfo``         block     ``http://good.com@evil.com``: the part before ``@`` poses as
                                    the host (not when a scope lists allowed hosts and the real
                                    host is one of them: the request goes where the scope allows)
``http.confusion``        block     real parsers disagree on the host (``\\`` tricks)
``http.scheme``           block     ``file``, ``gopher``, ``dict``, ``ldap``, ``jar`` ... (escalate
                                    for unknown ones such as ``data:``; ``ftp``, ``ssh``, ``s3`` pass)
``http.dns_private``      block     a name resolving to an internal address (any answer)
``http.dns_rebinding``    block     rebinding services (``rbndr.us``, ``1u.ms``)
``http.dns_unresolved``   escalate  the name did not resolve (or timed out): never allow unseen
``http.internal_name``    escalate  ``*.internal``/``*.local``... while resolution is off
``http.unparsable``       escalate  no client would agree on what this URL means
``http.scope``            block     the host is outside the scope's allowed hosts / is denied
========================  ========  ============================================================

Tiers. Where a URL sits decides how strict the analyzer is, so links in text do
not drown users in false positives:

* **fetch** — the tool will connect there: the URL/host arguments of an ``http``
  tool or a ``network`` operation, a declared (``spec``) argument, a URL-named
  argument (``url``, ``endpoint`` ...) of any tool that is not a message/e-mail/
  file/SQL/payment tool, and ``webhook``/``callback``/``endpoint`` arguments of any
  tool. All rules, DNS resolution and the scope's host lists apply.
* **probe** — a whole argument that is one URL in a tool whose kind does not say
  (``update_profile(avatar=...)``), a ``host`` or ``*_url`` argument of a data tool
  (``post_tweet(media_url=...)``: the tool fetches the media), or a
  ``callback``/``webhook`` field inside an HTTP body (the remote side fetches it):
  the literal rules block (an internal address or name is conclusive); no DNS, no scope.
* **data** — a whole-value URL in an e-mail, message, payment, SQL or file tool,
  any other field of an HTTP body, and client-side targets (``redirect_uri``,
  ``origin``, ``referer``: a browser goes there, not this host). It is content:
  only a cloud metadata endpoint escalates; the rest is ignored.
* **mention** — a URL followed by prose: an INFO note for metadata, nothing else.

A metadata URL hidden in a fetched URL's query (an open-redirect hop) blocks. A shell
``curl`` without ``-L`` follows no redirect: its query is data sent to the host, and only
the host is checked (the shell analyzer routes such URLs without their query).

>>> parse_url("http://0x7f.1/admin").host, parse_url("http://0x7f.1/admin").obfuscated
('127.0.0.1', True)
>>> parse_url("http://good.com@169.254.169.254/").host
'169.254.169.254'
>>> str(check_address("169.254.169.254"))
'http.metadata: 169.254.169.254 is a cloud metadata endpoint (AWS/GCP/Azure/Oracle/DigitalOcean)'
>>> check_address("::ffff:a9fe:a9fe").rule_id
'http.metadata'
>>> check_address("93.184.216.34") is None
True
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers.base import note_side_input

# Parsing and address classification live in http/_urlparse.py; the public names are
# re-exported here, where the firewall, agentgate.http and the tests import them.
from agentgate.analyzers.http._urlparse import (
    _DOMAIN_LIKE,
    _DOTTED_QUAD,
    _INTERNAL_SUFFIXES,
    AddressProblem,
    ParsedURL,
    _normalize_host,
    check_address,
    check_host,
    parse_host,
    parse_url,
)
from agentgate.analyzers.http._urlparse import METADATA_ADDRESSES as METADATA_ADDRESSES
from agentgate.analyzers.http._urlparse import METADATA_NAMES as METADATA_NAMES
from agentgate.analyzers.http._urlparse import IPAddress as IPAddress

if TYPE_CHECKING:
    from agentgate._call import ToolCall
    from agentgate.policy import EffectivePolicy

    from ..base import AnalyzerSettings, Context

__all__ = [
    "AddressProblem",
    "ParsedURL",
    "Resolution",
    "analyze_http",
    "check_address",
    "check_host",
    "clear_dns_cache",
    "parse_host",
    "parse_url",
    "pending_resolutions",
    "prefetch",
    "resolve",
]

# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer for one host name.

    Attributes:
        addresses: Every address the name resolved to (empty on failure).
        error: Why it did not resolve (``timeout`` / the resolver's message), or None.
        cached: Served from the cache.
    """

    addresses: tuple[str, ...]
    error: str | None = None
    cached: bool = False


_CACHE_MAX = 4096
_NEGATIVE_TTL = 5.0  # failures are retried soon: a flaky resolver must not pin a name as dead
_cache: dict[tuple[object, str], tuple[float, Resolution]] = {}
_cache_lock = threading.Lock()
_executor: ThreadPoolExecutor | None = None


def clear_dns_cache() -> None:
    """Forget every cached resolution (tests, after changing resolvers)."""
    with _cache_lock:
        _cache.clear()


def _system_resolve(host: str, timeout: float) -> list[str]:
    global _executor
    if _executor is None:
        with _cache_lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="agentgate-dns")
    fut = _executor.submit(socket.getaddrinfo, host, None, 0, socket.SOCK_STREAM)
    try:
        infos = fut.result(timeout=timeout)
    except FutureTimeout:
        raise TimeoutError(f"resolving {host!r} took longer than {timeout}s") from None
    return [str(info[4][0]) for info in infos]


def resolve(
    host: str,
    *,
    resolver: Callable[[str, float], list[str]] | None = None,
    timeout: float = 1.0,
    ttl: float = 60.0,
) -> Resolution:
    """Resolve *host* with *resolver* (default: the system's, bounded by *timeout*), cached for *ttl* s.

    Never raises: failures come back as ``Resolution(error=...)``. The cache is shared
    by the analyzer and `agentgate.http`, so within *ttl* the transports connect to
    exactly the addresses the analyzer checked.
    """
    note_side_input()  # DNS answers change: an analysis that asked one is never reused
    key = (resolver, host)
    now = time.monotonic()
    hit = _cache.get(key)
    if hit is not None and hit[0] > now:
        r = hit[1]
        return Resolution(r.addresses, r.error, True)
    try:
        found = (resolver or _system_resolve)(host, timeout)
        addrs = tuple(dict.fromkeys(str(a).split("%", 1)[0] for a in found))
        res = Resolution(addrs, None if addrs else "no addresses")
    except TimeoutError:
        res = Resolution((), f"timed out after {timeout}s")
    except (OSError, UnicodeError, ValueError) as e:
        res = Resolution((), str(e) or type(e).__name__)
    except Exception as e:  # a user resolver's bug must not crash the firewall; it escalates
        res = Resolution((), f"resolver failed: {type(e).__name__}: {e}")
    expires = now + (ttl if res.error is None else min(ttl, _NEGATIVE_TTL))
    with _cache_lock:
        if len(_cache) >= _CACHE_MAX:
            for k in [k for k, (exp, _) in _cache.items() if exp <= now] or list(_cache)[: _CACHE_MAX // 4]:
                _cache.pop(k, None)
        _cache[key] = (expires, res)
    return res


# --------------------------------------------------------------------------- the analyzer

_ALLOWED_SCHEMES = frozenset({"http", "https", "ws", "wss"})
# Not HTTP, but ordinary for fetch/download tools; their host is still checked like any other.
_ORDINARY_SCHEMES = frozenset(
    {
        "ftp",
        "ftps",
        "sftp",
        "ssh",
        "git",
        "git+https",
        "git+ssh",
        "s3",
        "gs",
        "az",
        "abfs",
        "abfss",
        "wasbs",
        "mailto",
        "tel",
        "sms",
    }
)
_DANGEROUS_SCHEMES = frozenset(
    {
        "file",
        "gopher",
        "dict",
        "ldap",
        "ldaps",
        "ldapi",
        "jar",
        "netdoc",
        "tftp",
        "telnet",
        "php",
        "phar",
        "expect",
        "glob",
        "javascript",
        "vbscript",
        "jndi",
        "rmi",
        "iiop",
        "smb",
        "cifs",
        "nfs",
        "zip",
        "compress.zlib",
        "view-source",
    }
)
_DATA_KINDS = frozenset({"email", "message", "payment", "sql", "file"})
_SERVER_FETCH_WORDS = ("webhook", "callback", "endpoint")
_CLIENT_SIDE = frozenset(
    {
        "redirect_uri",
        "redirect_url",
        "return_url",
        "return_to",
        "success_url",
        "cancel_url",
        "origin",
        "referer",
        "referrer",
        "allowed_origins",
        "cors_origin",
        "cors_origins",
    }
)
_BODY_ARGS = frozenset(
    {
        "body",
        "data",
        "json",
        "content",
        "text",
        "payload",
        "message",
        "html",
        "markdown",
        "description",
        "comment",
        "note",
        "notes",
        "summary",
        "params",
        "form",
        "files",
        "headers",
    }
)
# A metadata URL carried inside another URL (``?next=http://169.254.169.254/``): the
# address must follow ``//`` so a path like ``/ssrf-169.254.169.254-explained`` is not one.
_METADATA_IN_TEXT = re.compile(
    r"//\[?(?:169\.254\.169\.254|169\.254\.170\.2|100\.100\.100\.200|fd00:ec2::254|metadata\.google\.internal|"
    r"::ffff:a9fe:a9fe|2852039166)\b",
    re.I,
)
_SEV = {
    "http.metadata": Severity.CRITICAL,
    "http.scheme": Severity.CRITICAL,
    "http.loopback": Severity.HIGH,
    "http.unspecified": Severity.HIGH,
    "http.private": Severity.HIGH,
    "http.link_local": Severity.HIGH,
    "http.dns_rebinding": Severity.HIGH,
    "http.multicast": Severity.MEDIUM,
    "http.reserved": Severity.MEDIUM,
}
_MAX_EVIDENCE = 200

# Finding parts (rule, severity, effect, message, evidence) before the argument is attached.
_Parts = tuple[str, Severity, Effect, str, str]


def _ev(s: str) -> str:
    return s if len(s) <= _MAX_EVIDENCE else s[: _MAX_EVIDENCE - 1] + "…"


def _leaf(argument: str) -> str:
    return argument.rsplit(".", 1)[-1].split("[", 1)[0].lower()


def _tier(ctx: Context, argument: str, source: str, value: str) -> str:
    """fetch / probe / data / mention (see module docstring)."""
    cls = ctx.classification
    if source == "sniff" and any(ch.isspace() for ch in value.strip()):
        return "mention"
    leaf = _leaf(argument)
    if leaf in _CLIENT_SIDE:
        return "data"  # a browser goes there (OAuth redirect_uri, CORS origin), not this host
    server_fetch = any(w in leaf for w in _SERVER_FETCH_WORDS)
    if source == "spec":
        return "fetch"
    if cls.kind == "http":
        if source == "name":
            return "fetch"
        if "." in argument:  # a field of a request body: the remote side may fetch it, we do not
            return "probe" if server_fetch else "data"
        return "data" if leaf in _BODY_ARGS else "fetch"
    if cls.kind in _DATA_KINDS:
        if server_fetch:
            return "fetch"
        # media_url, attachment_url, host: the tool fetches or connects there; the message text is content.
        if leaf in ("host", "hostname", "server", "ip") or leaf in ("url", "uri") or leaf.endswith(("_url", "_uri")):
            return "probe"
        return "data"
    return "fetch" if source == "name" else "probe"


def _block(rule: str, msg: str, ev: str, sev: Severity | None = None) -> _Parts:
    return (rule, sev or _SEV.get(rule, Severity.HIGH), Effect.BLOCK, msg, _ev(ev))


def _escalate(rule: str, msg: str, ev: str) -> _Parts:
    return (rule, Severity.MEDIUM, Effect.ESCALATE, msg, _ev(ev))


def _address_parts(u: ParsedURL, allow: tuple[str, ...], raw: str) -> list[_Parts]:
    """Literal findings: scheme-independent checks of every host the URL can mean."""
    out: list[_Parts] = []
    for h in u.hosts:
        p = check_address(h, allow) if _is_ip(h) else check_host(h, allow)
        if p is not None:
            shown = f"{u.host_written} = {h}" if h != u.host_written and h == u.host else h
            msg = f"request target {p.reason}: blocked as server-side request forgery"
            out.append(_block(p.rule_id, msg, f"{shown} in {raw}"))
    if u.obfuscated and u.ip is not None:
        msg = f"host {u.host_written!r} is the address {u.host} written in an obfuscated form"
        out.append(_block("http.obfuscated_ip", msg, raw) if out else _escalate("http.obfuscated_ip", msg, raw))
    if u.alt_hosts:
        alts = ", ".join(u.alt_hosts)
        out.append(
            _block(
                "http.confusion",
                f"parsers disagree on the host ({u.host or '?'} vs {alts}): an SSRF filter bypass",
                raw,
            )
        )
    if u.userinfo:
        ui = unquote(u.userinfo)
        if _DOMAIN_LIKE.fullmatch(ui) or _DOTTED_QUAD.fullmatch(ui):
            out.append(
                _block("http.userinfo", f"{ui!r} before '@' is only a user name; the real host is {u.host!r}", raw)
            )
    return out


def _is_ip(h: str) -> bool:
    return bool(h) and (h[0].isdigit() or ":" in h) and (":" in h or h.replace(".", "").isdigit())


@functools.lru_cache(maxsize=4096)
def _static_parts(raw: str, tier: str, allow: tuple[str, ...], is_host: bool) -> tuple[_Parts, ...]:
    u = parse_host(raw) if is_host else parse_url(raw.strip().split(None, 1)[0] if tier == "mention" else raw)
    if tier in ("data", "mention"):
        hits = [p for p in _address_parts(u, allow, raw) if p[0] == "http.metadata"]
        if not hits and _METADATA_IN_TEXT.search(unquote(u.path_query)):
            hits = [_block("http.metadata", "a cloud metadata URL is embedded in this URL", raw)]
        if tier == "mention":
            return tuple(
                (r, Severity.INFO, Effect.INFO, m + " (mentioned in text, not fetched)", e)
                for r, _, _, m, e in hits[:1]
            )
        return tuple(
            (r, Severity.HIGH, Effect.ESCALATE, m + " (sent as content, not fetched)", e) for r, _, _, m, e in hits[:1]
        )
    out: list[_Parts] = []
    if not is_host and not u.scheme_assumed and u.scheme not in _ALLOWED_SCHEMES:
        if u.scheme in _DANGEROUS_SCHEMES and not (tier == "probe" and u.scheme == "file"):
            out.append(
                _block("http.scheme", f"scheme {u.scheme}: reaches local files or internal protocols, not the web", raw)
            )
        elif tier == "fetch" and u.scheme not in _ORDINARY_SCHEMES:
            out.append(
                _escalate("http.scheme", f"non-HTTP scheme {u.scheme}: outside what the HTTP checks can vouch for", raw)
            )
    if u.error is not None and not (u.scheme == "file" and not u.host):
        if tier == "fetch" and (u.scheme in _ALLOWED_SCHEMES or u.scheme_assumed or is_host):
            out.append(_escalate("http.unparsable", f"cannot tell where this URL goes ({u.error})", raw))
        return tuple(out)
    out.extend(_address_parts(u, allow, raw))
    redirect = tier == "fetch" and _METADATA_IN_TEXT.search(unquote(u.path_query))
    if redirect and not any(p[0] == "http.metadata" for p in out):
        out.append(_block("http.metadata", "a cloud metadata URL is embedded in the request (open-redirect hop)", raw))
    return tuple(out)


# Schemes whose "host" is a bucket or a container, not a name the agent's host resolves.
_NO_DNS_SCHEMES = frozenset({"s3", "gs", "az", "abfs", "abfss", "wasbs", "mailto", "tel", "sms"})


def _needs_dns(u: ParsedURL, tier: str, parts: Sequence[_Parts]) -> bool:
    blocked = any(p[2] is Effect.BLOCK for p in parts)
    named = u.ip is None and bool(u.host) and u.scheme not in _NO_DNS_SCHEMES
    return tier == "fetch" and named and u.error is None and not blocked


def _dns_parts(host: str, settings: AnalyzerSettings, allow: tuple[str, ...], raw: str) -> list[_Parts]:
    if not settings.resolve_dns:
        if host.endswith(_INTERNAL_SUFFIXES):
            return [
                _escalate("http.internal_name", f"{host} looks like an internal name and DNS resolution is off", raw)
            ]
        return []
    res = resolve(host, resolver=settings.resolver, timeout=settings.dns_timeout, ttl=settings.dns_cache_ttl)
    if res.error is not None:
        msg = f"{host} did not resolve ({res.error}); cannot check where it would connect"
        return [_escalate("http.dns_unresolved", msg, raw)]
    for ip in res.addresses:
        p = check_address(ip, allow)
        if p is not None:
            rule = "http.metadata" if p.rule_id == "http.metadata" else "http.dns_private"
            msg = f"{host} resolves to {ip}: {p.reason}; blocked as server-side request forgery"
            return [_block(rule, msg, f"{host} -> {ip}", _SEV.get(p.rule_id, Severity.HIGH))]
    return []


_HOSTLIKE = re.compile(
    r"(?:\*\.)?[a-z0-9*?\-_]+(?:\.[a-z0-9*?\-_]+)*\.?(?::\d{1,5})?|\[[0-9a-f:.]+\](?::\d{1,5})?|[0-9a-f:]+:[0-9a-f:.]*",
    re.I,
)


def _pattern_kind(p: str) -> str | None:
    """``url`` / ``host`` for patterns that can name a host, None for tables, paths, e-mails."""
    s = _ascii_pattern(p.strip())
    if "://" in s:
        return "url"
    if "@" in s or s.startswith(("/", "~", ".")) or "\\" in s:
        return None
    head, slash, _ = s.partition("/")
    if slash:
        return "hostpath" if "." in head and _HOSTLIKE.fullmatch(head) else None
    if not _HOSTLIKE.fullmatch(s):
        return None
    return "host" if ("." in s or ":" in s or s.lower() == "localhost" or s.startswith("[")) else None


def _pattern_matches(pattern: str, kind: str, u: ParsedURL) -> bool:
    from agentgate.policy import match_resource

    host = u.host
    if kind == "url":
        url = f"{u.scheme}://{host}{':' + str(u.port) if u.port else ''}{u.path_query or '/'}"
        return match_resource(pattern, url, "url") or match_resource(pattern, u.raw, "url")
    if kind == "hostpath":
        hp, _, rest = pattern.strip().partition("/")
        if not _pattern_matches(hp, "host", u):
            return False
        return match_resource("x://h/" + rest, "x://h" + (u.path_query.split("?", 1)[0].split("#", 1)[0] or "/"), "url")
    pat = pattern.strip().lower()
    if pat.startswith("[") and "]" in pat:
        pat_host, _, pat_port = pat[1:].partition("]")
        pat_port = pat_port.lstrip(":")
    elif pat.count(":") == 1:
        pat_host, _, pat_port = pat.partition(":")
    else:
        pat_host, pat_port = pat, ""
    if pat_port and str(u.port or {"https": 443, "wss": 443}.get(u.scheme, 80)) != pat_port:
        return False
    if u.ip is not None:
        try:
            return ipaddress.ip_address(pat_host) == u.ip
        except ValueError:
            pass
    return match_resource(_ascii_pattern(pat_host), host, "host")


@functools.lru_cache(maxsize=1024)
def _ascii_pattern(pat: str) -> str:
    """``*.bücher.example`` -> ``*.xn--bcher-kva.example``: patterns compare with the punycode host."""
    if pat.isascii():
        return pat
    labels = []
    for label in pat.split("."):
        if label.isascii():
            labels.append(label)
            continue
        norm, _, _, err = _normalize_host(label)
        labels.append(norm if err is None and norm else label)
    return ".".join(labels)


def _host_value(p: str) -> str:
    """A pattern as the HTTP analyzer reads it: ``host:``/``url:`` typed patterns lose their prefix,
    other typed patterns (``account:x``, ``s3://b/*``) name no host ("")."""
    from agentgate.policy._resources import split_pattern

    kind, value = split_pattern(p)
    if kind is None:
        return p
    return value if kind in ("host", "url") else ""


def _scope_parts(u: ParsedURL, policy: EffectivePolicy, raw: str) -> list[_Parts]:
    if not u.host:
        return []
    for layer in policy.layers:
        for p in map(_host_value, layer.denied_resources):
            k = _pattern_kind(p) if p else None
            if k is not None and _pattern_matches(p, k, u):
                return [_block("http.scope", f"{u.host} is denied by {layer.name} ({p!r})", raw)]
        if layer.allowed_resources:
            pats = [
                (p, k) for p in map(_host_value, layer.allowed_resources) if p and (k := _pattern_kind(p)) is not None
            ]
            if not any(_pattern_matches(p, k, u) for p, k in pats):
                listed = ", ".join(p for p, _ in pats) or "no network hosts"
                return [_block("http.scope", f"{u.host} is outside {layer.name}'s allowed hosts ({listed})", raw)]
    return []


def _items(ctx: Context) -> list[tuple[str, str, str, bool]]:
    """(argument, value, source, is_host) for every URL target and host resource, de-duplicated."""
    out: list[tuple[str, str, str, bool]] = []
    targets = ctx.targets("http")
    hosts = [r for r in ctx.classification.resources if r.kind == "host"]
    if not targets and not hosts:
        return out
    seen: set[tuple[str, str]] = set()
    raw = [(t.argument, t.value, t.source, False) for t in targets]
    raw.extend((r.argument, r.value, "name", True) for r in hosts)
    for item in raw:
        if (item[0], item[1]) not in seen and item[1].strip():
            seen.add((item[0], item[1]))
            out.append(item)
    return out


def analyze_http(call: ToolCall, ctx: Context) -> list[Finding]:
    """The HTTP/SSRF analyzer (see module docstring for rules and tiers)."""
    del call
    items = _items(ctx)
    if not items:
        return []
    settings = ctx.settings
    allow = tuple(settings.allow_private_networks)
    policy = ctx.policy
    scoped = any(lay.allowed_resources or lay.denied_resources for lay in policy.layers)
    findings: list[Finding] = []
    for argument, value, source, is_host in items:
        tier = _tier(ctx, argument, source, value)
        parts = list(_static_parts(value, tier, allow, is_host))
        if tier == "fetch":
            u = parse_host(value) if is_host else parse_url(value)
            if _needs_dns(u, tier, parts):
                parts.extend(_dns_parts(u.host, settings, allow, value))
            if scoped and u.error is None:
                outside = _scope_parts(u, policy, value)
                parts.extend(outside)
                if not outside and u.userinfo and any(lay.allowed_resources for lay in policy.layers):
                    # The deception a host-like user name plays is against a reader who trusts the
                    # first name; the scope lists the real host, so the request goes where it allows.
                    parts = [x for x in parts if x[0] != "http.userinfo"]
                if _explicit_local(u, policy):
                    parts = [x for x in parts if x[0] not in _LOCAL_RULES]
        findings.extend(Finding(r, sev, eff, msg, ev, argument) for r, sev, eff, msg, ev in parts)
    return findings


# Rules about the address being this machine or a private network: an explicit host:port
# in every restricting layer of the scope is the user's statement that the agent may use it.
_LOCAL_RULES = frozenset({"http.loopback", "http.private", "http.dns_private"})


def _explicit_local(u: ParsedURL, policy: EffectivePolicy) -> bool:
    """Every layer listing resources names exactly this host and port (no glob, no default port)."""
    if not u.host or u.error is not None:
        return False
    port = str(u.port or {"https": 443, "wss": 443}.get(u.scheme, 80))
    want = f"{u.host.lower().rstrip('.')}:{port}"
    layers = [lay for lay in policy.layers if lay.allowed_resources]
    return bool(layers) and all(
        any(_host_value(p).strip().lower().rstrip(".") == want for p in lay.allowed_resources) for lay in layers
    )


def pending_resolutions(ctx: Context) -> list[str]:
    """Host names `analyze_http` would resolve for this call that are not cached yet.

    The analyzer is synchronous and may wait up to ``dns_timeout`` on a cache miss.
    An async caller keeps its event loop free by resolving these first in a worker
    thread (``await asyncio.to_thread(prefetch, names, ctx.settings)``); the
    analyzer then runs from the cache.
    """
    settings = ctx.settings
    if not settings.resolve_dns:
        return []
    allow = tuple(settings.allow_private_networks)
    now = time.monotonic()
    names: list[str] = []
    for argument, value, source, is_host in _items(ctx):
        tier = _tier(ctx, argument, source, value)
        if tier != "fetch":
            continue
        u = parse_host(value) if is_host else parse_url(value)
        if not _needs_dns(u, tier, _static_parts(value, tier, allow, is_host)):
            continue
        hit = _cache.get((settings.resolver, u.host))
        if (hit is None or hit[0] <= now) and u.host not in names:
            names.append(u.host)
    return names


def prefetch(names: Sequence[str], settings: AnalyzerSettings) -> None:
    """Resolve *names* into the shared cache (blocking; run it in a worker thread from async code)."""
    for name in names:
        resolve(name, resolver=settings.resolver, timeout=settings.dns_timeout, ttl=settings.dns_cache_ttl)
