"""URL and address parsing for the HTTP / SSRF analyzer: what host would a client connect to?

`parse_url` parses a URL the way real clients do (WHATWG and RFC 3986 /
``urllib``), including IPv4 shorthand (decimal, octal, hex, short forms), IPv6
with embedded IPv4 and IDNA host names; `parse_host` does the same for a bare
host. `check_address` and `check_host` classify an address or a name against
the tables below (metadata, loopback, private, link-local ...). The rules they
report are documented in `agentgate.analyzers.http`, which re-exports the
public names here.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes, urlsplit

__all__ = [
    "METADATA_ADDRESSES",
    "METADATA_NAMES",
    "AddressProblem",
    "IPAddress",
    "ParsedURL",
    "check_address",
    "check_host",
    "parse_host",
    "parse_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# --------------------------------------------------------------------------- addresses

#: Cloud metadata endpoints. Each hands out instance credentials or platform secrets.
METADATA_ADDRESSES: dict[str, str] = {
    "169.254.169.254": "AWS/GCP/Azure/Oracle/DigitalOcean",
    "169.254.170.2": "AWS ECS task",
    "169.254.170.23": "AWS EKS pod identity",
    "100.100.100.200": "Alibaba Cloud",
    "192.0.0.192": "Oracle Cloud (legacy)",
    "169.254.0.23": "Tencent Cloud",
    "168.63.129.16": "Azure WireServer",
    "fd00:ec2::254": "AWS (IPv6)",
    "fd20:ce::254": "GCP (IPv6)",
}
METADATA_NAMES: dict[str, str] = {
    "metadata.google.internal": "GCP",
    "metadata.goog": "GCP",
    "metadata": "GCP/Azure short name",
    "instance-data": "AWS",
    "instance-data.ec2.internal": "AWS",
    "metadata.azure.com": "Azure",
    "metadata.tencentyun.com": "Tencent Cloud",
    "metadata.platformequinix.com": "Equinix Metal",
}
_LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost", "ip6-loopback", "localhost.localdomain", "loopback"})
# Public names whose DNS answers 127.0.0.1 for themselves and every subdomain.
_LOOPBACK_DOMAINS = ("localtest.me", "lvh.me", "vcap.me", "lacolhost.com", "localhost.direct", "127.0.0.1.nip.io")
_CLUSTER_NAMES = ("kubernetes.default", "kubernetes.default.svc")
# Wildcard DNS services answering the address written in the name.
_MAGIC_DOMAINS = ("nip.io", "sslip.io", "xip.io", "traefik.me", "nip.direct", "backname.io")
# Services whose purpose is to answer two different addresses (rebinding).
_REBIND_DOMAINS = ("rbndr.us", "1u.ms")
_INTERNAL_SUFFIXES = (
    ".internal",
    ".local",
    ".localdomain",
    ".lan",
    ".corp",
    ".home.arpa",
    ".intranet",
    ".private",
    ".svc",
    ".cluster.local",
)

_CLASS_TEXT = {
    "http.loopback": "a loopback address (this machine)",
    "http.private": "a private network address",
    "http.link_local": "a link-local address",
    "http.unspecified": "the unspecified address (reaches this machine)",
    "http.multicast": "a multicast address",
    "http.reserved": "a reserved / non-global address",
}
_CGNAT_TEXT = "a carrier-grade NAT (100.64.0.0/10) address"


def _v4(cidr: str, rule: str) -> tuple[int, int, str]:
    net = ipaddress.IPv4Network(cidr)
    return int(net.network_address), int(net.broadcast_address), rule


# Order matters only for readability; ranges do not overlap.
_V4_RANGES = tuple(
    _v4(c, r)
    for c, r in (
        ("0.0.0.0/8", "http.unspecified"),
        ("10.0.0.0/8", "http.private"),
        ("100.64.0.0/10", "http.private"),
        ("127.0.0.0/8", "http.loopback"),
        ("169.254.0.0/16", "http.link_local"),
        ("172.16.0.0/12", "http.private"),
        ("192.0.0.0/24", "http.reserved"),
        ("192.0.2.0/24", "http.reserved"),
        ("192.88.99.0/24", "http.reserved"),
        ("192.168.0.0/16", "http.private"),
        ("198.18.0.0/15", "http.reserved"),
        ("198.51.100.0/24", "http.reserved"),
        ("203.0.113.0/24", "http.reserved"),
        ("224.0.0.0/4", "http.multicast"),
        ("240.0.0.0/4", "http.reserved"),
    )
)
_V6_RANGES = tuple(
    (ipaddress.IPv6Network(c), r)
    for c, r in (
        ("fc00::/7", "http.private"),
        ("fec0::/10", "http.private"),
        ("fe80::/10", "http.link_local"),
        ("ff00::/8", "http.multicast"),
    )
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT IPv4-translated
_COMPAT = ipaddress.IPv6Network("::/96")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_6TO4 = ipaddress.IPv6Network("2002::/16")


@dataclass(frozen=True, slots=True)
class AddressProblem:
    """Why an address must not be reached.

    Attributes:
        rule_id: ``http.metadata``, ``http.loopback``, ``http.private`` ...
        reason: One line for humans.
        address: The address checked (for IPv6 that embeds IPv4, the IPv4 inside).
    """

    rule_id: str
    reason: str
    address: str

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.reason}"


def _embedded_v4(a: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, str] | None:
    """The IPv4 address an IPv6 address carries (mapped, translated, compatible, NAT64, 6to4)."""
    if a in _MAPPED:
        return ipaddress.IPv4Address(int(a) & 0xFFFFFFFF), "IPv4-mapped"
    if a in _TRANSLATED:
        return ipaddress.IPv4Address(int(a) & 0xFFFFFFFF), "IPv4-translated"
    if a in _COMPAT and int(a) > 1:
        return ipaddress.IPv4Address(int(a) & 0xFFFFFFFF), "IPv4-compatible"
    for n in _NAT64:
        if a in n:
            return ipaddress.IPv4Address(int(a) & 0xFFFFFFFF), "NAT64"
    if a in _6TO4:
        return ipaddress.IPv4Address((int(a) >> 80) & 0xFFFFFFFF), "6to4"
    return None


@functools.lru_cache(maxsize=8192)
def _classify(ip: str) -> AddressProblem | None:
    try:
        addr: IPAddress = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return AddressProblem("http.unparsable", f"{ip!r} is not an IP address", ip)
    via = ""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.scope_id:
            addr = ipaddress.IPv6Address(str(addr).split("%", 1)[0])
        emb = _embedded_v4(addr)
        if emb is not None:
            via = f" ({emb[1]} {addr.compressed})"
            addr = emb[0]
    text = addr.compressed
    cloud = METADATA_ADDRESSES.get(text)
    if cloud is not None:
        return AddressProblem("http.metadata", f"{text} is a cloud metadata endpoint ({cloud}){via}", text)
    if isinstance(addr, ipaddress.IPv4Address):
        n = int(addr)
        for lo, hi, rule in _V4_RANGES:
            if lo <= n <= hi:
                what = _CGNAT_TEXT if text.startswith("100.") and rule == "http.private" else _CLASS_TEXT[rule]
                return AddressProblem(rule, f"{text} is {what}{via}", text)
    else:
        if addr.is_unspecified:
            return AddressProblem("http.unspecified", f"{text} is {_CLASS_TEXT['http.unspecified']}", text)
        if addr.is_loopback:
            return AddressProblem("http.loopback", f"{text} is {_CLASS_TEXT['http.loopback']}", text)
        for net, rule in _V6_RANGES:
            if addr in net:
                return AddressProblem(rule, f"{text} is {_CLASS_TEXT[rule]}", text)
    if not addr.is_global:
        return AddressProblem("http.reserved", f"{text} is {_CLASS_TEXT['http.reserved']}{via}", text)
    return None


@functools.lru_cache(maxsize=256)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c.strip(), strict=False))
        except ValueError:
            continue  # config validation reports it; an unusable entry exempts nothing
    return tuple(out)


def check_address(ip: str | IPAddress, allow: Sequence[str] = ()) -> AddressProblem | None:
    """Why *ip* must not be reached, or None when it is a public address.

    IPv6 forms that carry an IPv4 address (``::ffff:a.b.c.d``, NAT64 ``64:ff9b::/96``,
    6to4, IPv4-compatible) are judged by that IPv4 address; zone ids are ignored.
    *allow* lists CIDRs the caller may reach anyway (``allow_private_networks``);
    a metadata endpoint or the unspecified address is exempt only when listed as a
    single address (``169.254.170.2/32``), never by a broader network.
    """
    problem = _classify(str(ip))
    if problem is None or not allow or problem.rule_id == "http.unparsable":
        return problem
    addr = ipaddress.ip_address(problem.address)
    strict = problem.rule_id in ("http.metadata", "http.unspecified")
    for net in _networks(tuple(allow)):
        if addr.version == net.version and addr in net and (not strict or net.num_addresses == 1):
            return None
    return problem


# --------------------------------------------------------------------------- parsing

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_HOST_PORT_ONLY = re.compile(r"[^/?#\\:@]+:\d+(?:[/?#\\]|\Z)")
_SPECIAL = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
# A user name that poses as a host: "google.com", "api.github.com:443", "www.bank". A bare
# "first.last" (Bitbucket-style user names) is not one: its last label is no common TLD.
_DOMAIN_LIKE = re.compile(
    r"(?:www\.[^:]+|(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+"
    r"(?:com|net|org|io|dev|app|ai|co|gov|edu|mil|info|biz|cloud|me|us|uk|de|fr|ru|cn|jp|in|br|xyz|site|online|"
    r"tech|internal|local|localhost|corp|goog|amazonaws))\.?(?::\d{1,5})?",
    re.I,
)
_DOTTED_QUAD = re.compile(r"(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?")
_CTRL = re.compile(r"[\t\n\r]")  # WHATWG removes these anywhere in the input
_C0_AND_SPACE = "".join(map(chr, range(0x21)))  # ... and strips these at both ends
_NUMERIC_PART = re.compile(r"(?:0[xX][0-9A-Fa-f]*|[0-9]+)\Z")


@dataclass(frozen=True, slots=True)
class ParsedURL:
    """A URL as a real client would read it.

    Attributes:
        raw: The input.
        scheme: Lower-case scheme (``http`` when none was written: clients assume it).
        scheme_assumed: True when the input had no scheme (``example.com/x``, ``//host``).
        userinfo: What sits before ``@`` in the authority ('' when none).
        host: Normalized host: canonical IPv4 dotted quad, compressed IPv6 (no
            brackets, no zone), or a lower-case ASCII (punycode) name without the
            trailing dot. '' for URLs without a host (``file:///etc/passwd``, ``data:``).
        host_written: The host as written.
        ip: The host as an address, when it is one.
        obfuscated: The address was written in a non-canonical form (decimal, octal,
            hex, short ``127.1``, trailing dot, percent- or unicode-encoded).
        port: The explicit port, if any.
        path_query: Everything after the authority.
        alt_hosts: Other hosts a different real parser reads (``requests`` vs browsers).
        error: Why no client would agree on a host, or None.
    """

    raw: str
    scheme: str
    scheme_assumed: bool
    userinfo: str
    host: str
    host_written: str
    ip: IPAddress | None
    obfuscated: bool
    port: int | None
    path_query: str
    alt_hosts: tuple[str, ...] = ()
    error: str | None = None

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host some real client would connect to (``host`` first)."""
        return ((self.host,) if self.host else ()) + self.alt_hosts


def _parse_ipv4(host: str) -> tuple[ipaddress.IPv4Address | None, bool, str | None]:
    """WHATWG/inet_aton IPv4: 1-4 parts, each decimal, octal (leading 0) or hex (0x)."""
    parts = host.split(".")
    trailing = parts[-1] == "" and len(parts) > 1
    if trailing:
        parts.pop()
    if not parts or len(parts) > 4 or any(p == "" for p in parts):
        return None, False, "invalid IPv4 address"
    nums = []
    for p in parts:
        if not _NUMERIC_PART.match(p):
            return None, False, "invalid IPv4 address"
        try:
            if p[:2] in ("0x", "0X"):
                nums.append(int(p[2:] or "0", 16))
            elif len(p) > 1 and p[0] == "0":
                nums.append(int(p, 8))
            else:
                nums.append(int(p, 10))
        except ValueError:
            return None, False, "invalid IPv4 address"
    last_bits = 8 * (5 - len(nums))
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 1 << last_bits:
        return None, False, "IPv4 address out of range"
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value |= n << (24 - 8 * i)
    addr = ipaddress.IPv4Address(value)
    return addr, host != str(addr), None


def _normalize_host(written: str) -> tuple[str, IPAddress | None, bool, str | None]:
    """(host, ip, obfuscated, error) for an authority's host part."""
    if written.startswith("["):
        if not written.endswith("]"):
            return "", None, False, "unterminated IPv6 literal"
        inner = written[1:-1]
        zone = inner.find("%")
        if zone != -1:
            inner = inner[:zone]  # zone ids (fe80::1%25eth0) name an interface, not a host
        try:
            a6 = ipaddress.IPv6Address(inner)
        except ValueError:
            return "", None, False, "invalid IPv6 address"
        return a6.compressed, a6, False, None
    host = written
    encoded = False
    if "%" in host:
        try:
            host = unquote_to_bytes(host).decode("utf-8")
        except UnicodeDecodeError:
            return "", None, False, "percent-encoded host is not UTF-8"
        encoded = True
    if not host.isascii():
        encoded = True
        try:
            import idna

            host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
        except (idna.IDNAError, UnicodeError, ValueError):
            mapped = unicodedata.normalize("NFKC", host)
            for dot in ("\u3002", "\uff0e", "\uff61"):
                mapped = mapped.replace(dot, ".")
            if not mapped.isascii():
                return "", None, False, "host is not a valid internationalized domain name"
            host = mapped
    host = host.lower()
    if _FORBIDDEN_HOST.search(host):
        return "", None, False, "host contains a character no client accepts"
    if not host:
        return "", None, False, None
    labels = host.rstrip(".").rsplit(".", 1) if host != "." else [""]
    if _NUMERIC_PART.match(labels[-1]):
        a4, obf, err = _parse_ipv4(host)
        if a4 is None:
            return "", None, False, err
        return str(a4), a4, obf or encoded, None
    if ":" in host:
        return "", None, False, "host contains ':'"
    return host.rstrip("."), None, False, None


def _split_authority(rest: str, special: bool) -> tuple[str, str]:
    stops = "/?#\\" if special else "/?#"
    i = next((k for k, ch in enumerate(rest) if ch in stops), len(rest))
    return rest[:i], rest[i:]


@functools.lru_cache(maxsize=4096)
def parse_url(raw: str) -> ParsedURL:
    """Parse *raw* as clients do (see module docstring). Never raises.

    >>> u = parse_url("HTTP://[::ffff:127.0.0.1]:8080/x")
    >>> u.scheme, u.host, u.port, check_address(u.host).rule_id
    ('http', '::ffff:7f00:1', 8080, 'http.loopback')
    >>> parse_url("http://evil.com\\\\@169.254.169.254/").alt_hosts
    ('169.254.169.254',)
    """
    s = _CTRL.sub("", raw.strip(_C0_AND_SPACE))
    m = _SCHEME_RE.match(s)
    scheme_assumed = False
    if m is None or (_HOST_PORT_ONLY.match(s) and not s[m.end() :].startswith(("/", "\\"))):
        # "example.com/x", "//host", "localhost:8080": clients assume http.
        scheme, rest, scheme_assumed = "http", s, True
    else:
        scheme, rest = m.group(1).lower(), s[m.end() :]
    special = scheme in _SPECIAL
    if special:
        rest = rest.lstrip("/\\")  # WHATWG: any run of slashes/backslashes
        after = s[m.end() :] if m is not None else ""
        if scheme == "file" and (not after.startswith(("//", "\\\\")) or after[2:3] in ("/", "\\")):
            return ParsedURL(raw, scheme, scheme_assumed, "", "", "", None, False, None, "/" + rest)
    elif rest.startswith("//"):
        rest = rest[2:]
    else:
        # Opaque URL (mailto:, data:, javascript:): no host.
        return ParsedURL(raw, scheme, scheme_assumed, "", "", "", None, False, None, rest)
    authority, tail = _split_authority(rest, special)
    userinfo, _at, hostport = authority.rpartition("@")
    port: int | None = None
    error: str | None = None
    if hostport.startswith("["):
        close = hostport.find("]")
        written, port_text = (hostport[: close + 1], hostport[close + 1 :]) if close != -1 else (hostport, "")
        if port_text and not port_text.startswith(":"):
            error = "garbage after IPv6 literal"
        port_text = port_text[1:]
    else:
        written, colon, port_text = hostport.rpartition(":")
        if not colon:
            written, port_text = hostport, ""
    if port_text:
        if port_text.isascii() and port_text.isdigit() and int(port_text) <= 65535:
            port = int(port_text)
        else:
            error = error or f"invalid port {port_text!r}"
    host, ip, obfuscated, herr = _normalize_host(written)
    error = error or herr
    if not host and error is None and scheme != "file":
        error = "URL has no host"
    alt: tuple[str, ...] = ()
    if special and "\\" in s:
        alt = _alternate_hosts(s if not scheme_assumed else "http://" + s.lstrip("/\\"), host)
    return ParsedURL(raw, scheme, scheme_assumed, userinfo, host, written, ip, obfuscated, port, tail, alt, error)


def _alternate_hosts(s: str, host: str) -> tuple[str, ...]:
    """Hosts an RFC 3986 parser (``urllib``, ``requests``/urllib3) reads where browsers differ."""
    try:
        other = urlsplit(s)
        netloc = other.netloc
    except ValueError:
        return ()
    hp = netloc.rpartition("@")[2]
    written = hp[: hp.find("]") + 1] if hp.startswith("[") else hp.rpartition(":")[0] if ":" in hp else hp
    alt, _, _, err = _normalize_host(written)  # a host with "\\" left in it is no valid host anywhere
    return (alt,) if alt and err is None and alt != host else ()


def parse_host(value: str) -> ParsedURL:
    """Parse a bare host argument (``db.internal``, ``10.0.0.1:5432``, ``fd00:ec2::254``, ``[::1]``).

    >>> parse_host("fd00:ec2::254").host, parse_host("0177.0.0.1:22").host
    ('fd00:ec2::254', '127.0.0.1')
    """
    v = value.strip()
    if "://" in v:
        return parse_url(v)
    if v.count(":") >= 2 and not v.startswith("["):
        v = f"[{v}]"  # a bare IPv6 address
    return parse_url("//" + v)


# --------------------------------------------------------------------------- names

_MAGIC_V4 = re.compile(r"(?:^|[.\-])((?:\d{1,3}[.\-]){3}\d{1,3})(?=[.\-]|\Z)")
_HEX8 = re.compile(r"(?:^|[.\-])([0-9a-f]{8})(?=[.\-]|\Z)")


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _embedded_ips(name: str) -> list[str]:
    """IPv4 addresses a wildcard-DNS name spells (``10-0-0-1.sslip.io``, ``7f000001.rbndr.us``)."""
    out = []
    for m in _MAGIC_V4.finditer(name):
        octets = re.split(r"[.\-]", m.group(1))
        if all(int(o) <= 255 for o in octets):
            out.append(".".join(str(int(o)) for o in octets))
    for m in _HEX8.finditer(name):
        out.append(str(ipaddress.IPv4Address(int(m.group(1), 16))))
    return out


def check_host(host: str, allow: Sequence[str] = ()) -> AddressProblem | None:
    """Judge a host *name* without DNS: loopback names, metadata names, cluster names,
    wildcard-DNS names that spell an internal address, rebinding services.

    *host* is normalized (`ParsedURL.host`). IP literals go to `check_address`.

    >>> str(check_host("metadata.google.internal"))
    'http.metadata: metadata.google.internal is the GCP metadata service'
    >>> check_host("10-0-0-1.sslip.io").rule_id, check_host("example.com") is None
    ('http.private', True)
    """
    if host in METADATA_NAMES:
        return AddressProblem("http.metadata", f"{host} is the {METADATA_NAMES[host]} metadata service", host)
    if host in _LOOPBACK_NAMES or host.endswith(".localhost") or any(_under(host, d) for d in _LOOPBACK_DOMAINS):
        return (
            None
            if _allowed_loopback(allow)
            else AddressProblem("http.loopback", f"{host} names this machine (127.0.0.1)", host)
        )
    if any(_under(host, d) for d in _CLUSTER_NAMES) or host.endswith(".svc.cluster.local"):
        return AddressProblem("http.private", f"{host} is an in-cluster (Kubernetes) service name", host)
    if any(_under(host, d) for d in _REBIND_DOMAINS):
        return AddressProblem(
            "http.dns_rebinding", f"{host} is a DNS-rebinding service: its answers change between lookups", host
        )
    for d in _MAGIC_DOMAINS:
        if host.endswith("." + d):
            for ip in _embedded_ips(host[: -len(d) - 1]):
                p = check_address(ip, allow)
                if p is not None:
                    return AddressProblem(p.rule_id, f"{host} resolves to {ip} via {d}: {p.reason}", ip)
    return None


def _allowed_loopback(allow: Sequence[str]) -> bool:
    return bool(allow) and check_address("127.0.0.1", allow) is None
