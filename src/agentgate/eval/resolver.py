"""The deterministic DNS resolver the evaluation suite runs with.

Eval cases must give the same verdict on every machine, online or not, so the
HTTP analyzer's host resolution is replaced by this fixed table (set as
``AnalyzerSettings(resolver=eval_resolver)``). It models the cases that matter
for SSRF: names that point at loopback, cloud metadata, private networks,
"magic" DNS services that embed an address in the name, and names that do not
resolve at all. Everything else is a public address.

>>> eval_resolver("169.254.169.254", 1.0), eval_resolver("api.localhost", 1.0)
(['169.254.169.254'], ['127.0.0.1'])
>>> eval_resolver("metadata.google.internal", 1.0), eval_resolver("db.corp", 1.0)
(['169.254.169.254'], ['10.0.0.5'])
>>> eval_resolver("10-0-0-1.sslip.io", 1.0), eval_resolver("app.169.254.169.254.nip.io", 1.0)
(['10.0.0.1'], ['169.254.169.254'])
>>> eval_resolver("example.com", 1.0), eval_resolver("2130706433", 1.0), eval_resolver("0x7f.1", 1.0)
(['93.184.216.34'], ['127.0.0.1'], ['127.0.0.1'])
"""

from __future__ import annotations

import ipaddress
import re
import socket

__all__ = ["PUBLIC_ADDRESS", "eval_resolver"]

#: What every ordinary name resolves to (a public, routable address).
PUBLIC_ADDRESS = "93.184.216.34"

_METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"})
_PRIVATE_SUFFIXES = (".internal", ".local", ".corp", ".lan", ".intranet")
# An IPv4 address written with dots or dashes, right before a magic-DNS suffix.
_MAGIC = re.compile(r"(?:^|[.\-])(\d{1,3})[.\-](\d{1,3})[.\-](\d{1,3})[.\-](\d{1,3})\.(?:nip\.io|sslip\.io|xip\.io)\Z")

_NUMERIC = re.compile(r"\A(?:0x[0-9a-f]+|[0-9]+)(?:\.(?:0x[0-9a-f]+|[0-9]+)){0,3}\Z")


def eval_resolver(host: str, timeout: float) -> list[str]:
    """Resolve *host* from the fixed eval table (see module docstring).

    IP literals (IPv6, dotted IPv4 and the numeric spellings ``inet_aton``
    accepts, as the system resolver does) resolve to themselves.

    *timeout* is accepted for signature compatibility and ignored: nothing here
    does I/O. Raises ``OSError`` for names under ``.invalid``.
    """
    del timeout
    name = host.strip().rstrip(".").lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return [str(ipaddress.ip_address(name))]
    except ValueError:
        pass
    if _NUMERIC.match(name):
        # The system resolver accepts the inet_aton spellings of an IPv4 literal
        # ("2130706433", "0x7f.1", "127.1"); so does this one, or the suite would
        # call a loopback address public.
        try:
            return [socket.inet_ntoa(socket.inet_aton(name))]
        except OSError:
            pass
    if name == "localhost" or name.endswith(".localhost"):
        return ["127.0.0.1"]
    if name in _METADATA_NAMES:
        return ["169.254.169.254"]
    if name.endswith(".invalid") or name == "invalid":
        raise OSError(f"eval resolver: {host!r} does not resolve")
    m = _MAGIC.search(name)
    if m is not None and all(0 <= int(o) <= 255 for o in m.groups()):
        return [".".join(str(int(o)) for o in m.groups())]
    if name.endswith(_PRIVATE_SUFFIXES):
        return ["10.0.0.5"]
    return [PUBLIC_ADDRESS]
