"""Network exposure: inbound rules open to the internet on administration or database ports.

A rule's sources are the values of source-like keys (``CidrIp``, ``cidr_blocks``,
``sourceRanges``, ``sourceAddressPrefix``, ``remote_ip_prefix`` ...); its ports
come from port-like keys of the same mapping, else of the nearest enclosing one
(AWS ``IpPermissions``), else of the mappings inside it (GCP ``allowed[].ports``);
none at all, ``-1``, ``all`` or ``*`` mean every port. Sources of one rule are
added up: a rule is open to the internet when its public addresses amount to at
least a /8 (``0.0.0.0/0``, ``::/0``, ``0.0.0.0/1`` + ``128.0.0.0/1``, 256 /16s ...).
Egress and outbound rules, and rules whose action is deny, grant nothing inbound.

>>> tree = {"IpPermissions": [{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
...         "IpRanges": [{"CidrIp": "0.0.0.0/1"}, {"CidrIp": "128.0.0.0/1"}]}]}
>>> [h[0] for h in ingress_findings(tree, egress_tool=False)]
['config.open_ingress']
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from agentgate._decision import Effect, Severity

from ._doc import key_words
from ._iam import RawHit

__all__ = ["SENSITIVE_PORTS", "ingress_findings"]

#: Remote administration, databases, caches, orchestration and file sharing: never for the whole internet.
SENSITIVE_PORTS: dict[int, str] = {
    20: "FTP data",
    21: "FTP",
    22: "SSH",
    23: "Telnet",
    25: "SMTP",
    111: "RPC",
    135: "MS RPC",
    137: "NetBIOS",
    139: "NetBIOS",
    161: "SNMP",
    389: "LDAP",
    445: "SMB",
    512: "rexec",
    513: "rlogin",
    514: "rsh",
    873: "rsync",
    1433: "SQL Server",
    1521: "Oracle",
    2049: "NFS",
    2375: "Docker API",
    2376: "Docker API",
    2379: "etcd",
    2380: "etcd",
    3306: "MySQL",
    3389: "RDP",
    4444: "remote shell",
    5432: "PostgreSQL",
    5601: "Kibana",
    5900: "VNC",
    5984: "CouchDB",
    5985: "WinRM",
    5986: "WinRM",
    6379: "Redis",
    6443: "Kubernetes API",
    7001: "WebLogic",
    8086: "InfluxDB",
    8500: "Consul",
    9000: "admin console",
    9042: "Cassandra",
    9092: "Kafka",
    9200: "Elasticsearch",
    9300: "Elasticsearch",
    10250: "kubelet",
    11211: "Memcached",
    27017: "MongoDB",
    27018: "MongoDB",
    50070: "HDFS",
}

_PRIVATE = tuple(
    ipaddress.ip_network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)
_WORLD = ("0.0.0.0/0", "::/0")
_WORLD_NETS = tuple(ipaddress.ip_network(w) for w in _WORLD)
_ANY_WORDS = frozenset({"*", "any", "internet", "anywhere", "all", "world", "0.0.0.0"})  # noqa: S104
_SOURCE_WORDS = frozenset(
    {"cidr", "cidrs", "source", "sources", "src", "remote", "ranges", "prefix", "prefixes", "ip", "ips", "ipv4", "ipv6"}
)
_NOT_SOURCE_WORDS = frozenset(
    {"destination", "dest", "dst", "target", "egress", "outbound", "next", "hop", "gateway", "local", "private"}
)
_EGRESS_WORDS = frozenset({"egress", "outbound"})
_ALL_PORTS = (0, 65535)
_NO_PORTS = (65536, 65536)  # ICMP: a protocol without ports exposes none of them


def _source_key(words: tuple[str, ...]) -> bool:
    s = set(words)
    return bool(s & _SOURCE_WORDS) and not s & _NOT_SOURCE_WORDS and "port" not in s and "ports" not in s


@functools.lru_cache(maxsize=4096)
def _allowlist(key: str) -> bool:
    """A list of networks let in (``authorizedNetworks``, ``ip_allowlist``, ``trusted_ranges``):
    every network value inside it is a source, whatever its own key (``value``)."""
    s = set(key_words(key))
    return bool(s & {"authorized", "allowlist", "whitelist", "allowed", "trusted", "permitted"}) and bool(
        s & {"networks", "network", "ips", "ranges", "cidrs", "sources", "addresses", "list"}
    )


@functools.lru_cache(maxsize=4096)
def _key_role(key: str) -> tuple[bool, bool]:
    """(names traffic sources, names egress) for a key; cached, keys repeat across calls."""
    w = key_words(key)
    return _source_key(w), bool(set(w) & _EGRESS_WORDS)


def _networks(v: Any) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for s in v if isinstance(v, list) else [v]:
        if not isinstance(s, str) or len(s) > 64:
            continue
        t = s.strip().lower()
        if t in _ANY_WORDS or t in _WORLD:
            out.extend(_WORLD_NETS)
            continue
        try:
            out.append(ipaddress.ip_network(t, strict=False))
        except ValueError:
            continue
    return out


def _public_size(nets: list[Any], version: int) -> int:
    """How many public addresses the networks of one IP *version* cover together."""
    total = 0
    private: list[Any] = [p for p in _PRIVATE if p.version == version]
    for n in ipaddress.collapse_addresses([x for x in nets if x.version == version]):
        if any(n.subnet_of(p) for p in private):
            continue
        total += n.num_addresses - sum(p.num_addresses for p in private if p.subnet_of(n))
    return total


def _open(nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    if any(n.prefixlen == 0 for n in nets):
        return True  # 0.0.0.0/0 or ::/0, the common case: no arithmetic needed
    return _public_size(nets, 4) >= 1 << 24 or _public_size(nets, 6) >= 1 << 112


def _port(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.strip().lstrip("-").isdigit():
        return int(v.strip())
    return None


def _ranges(v: Any) -> list[tuple[int, int]]:
    """Port ranges in a value: ``22``, ``"22"``, ``"1000-2000"``, ``"*"``, ``-1``, lists of those."""
    out: list[tuple[int, int]] = []
    for x in v if isinstance(v, list) else [v]:
        p = _port(x)
        if p is not None:
            out.append(_ALL_PORTS if p < 0 else (p, p))
            continue
        if isinstance(x, dict):
            lo, hi = _port(x.get("from") or x.get("From")), _port(x.get("to") or x.get("To"))
            if lo is not None:
                out.append(_ALL_PORTS if lo < 0 else (lo, hi if hi is not None and hi >= 0 else lo))
            continue
        if not isinstance(x, str):
            continue
        t = x.strip().lower()
        if t in ("*", "all", "any", "-1", ""):
            out.append(_ALL_PORTS)
            continue
        a, sep, b = t.partition("-")
        if sep and a.strip().isdigit() and b.strip().isdigit():
            out.append((int(a), int(b)))
    return out


def _ports_of(d: dict[str, Any]) -> list[tuple[int, int]] | None:
    """The port ranges a mapping declares, or None when it declares none."""
    lo = hi = None
    ranges: list[tuple[int, int]] = []
    found = icmp = False
    for k, v in d.items():
        w = key_words(k)
        if "protocol" in w:
            found = True
            proto = str(v).strip().lower()
            if proto in ("-1", "all", "*", "any"):
                ranges.append(_ALL_PORTS)
            elif proto in ("icmp", "icmpv6", "1", "58"):
                icmp = True  # its "ports" (-1) are ICMP types, not ports
            continue
        if "port" not in w and "ports" not in w:
            continue
        found = True
        if "from" in w or w[:1] == ("start",):
            lo = _port(v)
        elif "to" in w or w[:1] == ("end",):
            hi = _port(v)
        else:
            ranges.extend(_ranges(v))
    if lo is not None or hi is not None:
        a = lo if lo is not None else hi
        b = hi if hi is not None else lo
        assert a is not None
        assert b is not None
        ranges.append(_ALL_PORTS if a < 0 or b < 0 else (min(a, b), max(a, b)))
    if icmp:
        return [_NO_PORTS]
    return ranges if found else None


def _grants_nothing(d: dict[str, Any]) -> bool:
    """An egress/outbound rule, or one whose action is deny."""
    for k, v in d.items():
        w = key_words(k)
        if not isinstance(v, str):
            continue
        val = v.strip().lower()
        if w in (("direction",), ("type",), ("traffic", "direction")) and val in ("egress", "outbound", "out"):
            return True
        if w in (("access",), ("action",), ("rule", "action")) and val in ("deny", "drop", "reject", "block"):
            return True
    return False


def _exposed(ranges: list[tuple[int, int]]) -> str | None:
    """What an open rule exposes that must not be: all ports, or the first sensitive port."""
    for lo, hi in ranges:
        if lo <= 0 and hi >= 65535:
            return "every port"
        for p, name in SENSITIVE_PORTS.items():
            if lo <= p <= hi:
                return f"port {p} ({name})" if lo == hi else f"ports {lo}-{hi}, which include {p} ({name})"
    return None


def ingress_findings(tree: dict[str, Any], *, egress_tool: bool) -> list[RawHit]:
    """Inbound rules in *tree* open to the internet on sensitive ports (see the module docstring)."""
    if egress_tool:
        return []
    groups: dict[int, tuple[list[Any], list[tuple[int, int]] | None]] = {}

    def visit(value: Any, owner: tuple[int, list[tuple[int, int]] | None], skip: bool, allow: bool = False) -> None:
        if isinstance(value, list):
            for x in value:
                visit(x, owner, skip, allow)
            return
        if not isinstance(value, dict):
            return
        if skip or _grants_nothing(value):
            return
        own = _ports_of(value)
        here = (id(value), own) if own is not None else owner
        nets: list[Any] = []
        for k, v in value.items():
            source, egress = _key_role(k)
            if (source or allow) and not egress:  # IpPermissionsEgress, egress { ... } grant nothing inbound
                nets.extend(_networks(v))
        if nets:
            key = here[0] if here[1] is not None else id(value)
            bucket = groups.setdefault(key, ([], here[1] if here[1] is not None else _below(value)))
            bucket[0].extend(nets)
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                visit(v, here, _key_role(k)[1], _allowlist(k))

    visit(tree, (id(tree), None), False)
    out: list[RawHit] = []
    for nets, ranges in groups.values():
        if not _open(nets):
            continue
        what = _exposed(ranges if ranges else [_ALL_PORTS])
        if what is None:
            continue
        src = ", ".join(sorted({str(n) for n in nets}))[:80]
        out.append(
            (
                "config.open_ingress",
                Severity.HIGH,
                Effect.BLOCK,
                f"the rule opens {what} to the whole internet ({src})",
                src,
            )
        )
    return out


def _below(d: dict[str, Any]) -> list[tuple[int, int]] | None:
    """Ports declared by mappings inside *d* (GCP ``allowed: [{ports: [...]}]``)."""
    found: list[tuple[int, int]] = []
    seen = False
    stack: list[Any] = [v for v in d.values() if isinstance(v, (dict, list))]
    while stack:
        v = stack.pop()
        if isinstance(v, list):
            stack.extend(x for x in v if isinstance(x, (dict, list)))
        elif isinstance(v, dict):
            p = _ports_of(v)
            if p is not None:
                seen = True
                found.extend(p if p else [_ALL_PORTS])
            stack.extend(x for x in v.values() if isinstance(x, (dict, list)))
    return found if seen else None
