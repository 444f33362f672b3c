"""The deterministic eval resolver: every rule of the table, and what falls through."""

from __future__ import annotations

import doctest

import pytest

import agentgate.eval.resolver as resolver_mod
from agentgate.eval.resolver import PUBLIC_ADDRESS, eval_resolver


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("10.1.2.3", "10.1.2.3"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("localhost", "127.0.0.1"),
        ("LOCALHOST.", "127.0.0.1"),
        ("admin.localhost", "127.0.0.1"),
        ("metadata.google.internal", "169.254.169.254"),
        ("metadata", "169.254.169.254"),
        ("instance-data", "169.254.169.254"),
        ("metadata.azure.com", "169.254.169.254"),
        ("db.internal", "10.0.0.5"),
        ("printer.local", "10.0.0.5"),
        ("git.corp", "10.0.0.5"),
        ("nas.lan", "10.0.0.5"),
        ("wiki.intranet", "10.0.0.5"),
        ("169.254.169.254.nip.io", "169.254.169.254"),
        ("10-0-0-1.sslip.io", "10.0.0.1"),
        ("app.127.0.0.1.xip.io", "127.0.0.1"),
        ("svc-192-168-1-20.sslip.io", "192.168.1.20"),
    ],
)
def test_special_names_resolve_to_their_address(host: str, expected: str) -> None:
    """Literals, loopback names, metadata names, private suffixes and magic DNS map as documented."""
    assert eval_resolver(host, 1.0) == [expected]


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "api.github.com",
        "internal.example.com",
        "localhost.example.com",
        "metadata.example.com",
        "nip.io",
        "300.1.1.1.nip.io",
        "corp.acme.com",
        "local-news.com",
    ],
)
def test_ordinary_names_are_public(host: str) -> None:
    """Look-alikes of the special names (suffix elsewhere, out-of-range octets) are ordinary public names."""
    assert eval_resolver(host, 1.0) == [PUBLIC_ADDRESS]


@pytest.mark.parametrize("host", ["nothing.invalid", "a.b.INVALID", "invalid"])
def test_invalid_names_do_not_resolve(host: str) -> None:
    """Names under .invalid raise OSError, the resolver contract for 'does not resolve'."""
    with pytest.raises(OSError, match="does not resolve"):
        eval_resolver(host, 1.0)


def test_resolver_doctests() -> None:
    """The examples in the module docstring hold."""
    assert doctest.testmod(resolver_mod).failed == 0
