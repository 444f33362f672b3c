"""Tests for the HTTP/SSRF analyzer: golden fixtures, parsing, address rules, DNS cache."""

from __future__ import annotations

import doctest
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentgate._call import ToolCall
from agentgate._decision import Effect, Finding
from agentgate.analyzers import http as http_module
from agentgate.analyzers.base import AnalyzerSettings, make_context
from agentgate.analyzers.http import analyze_http, check_address, check_host, clear_dns_cache, parse_url, resolve
from agentgate.eval.resolver import eval_resolver
from agentgate.policy import EffectivePolicy, make_scope

FIXTURES = Path(__file__).parent.parent / "fixtures" / "analyzers" / "http.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(FIXTURES.read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _fresh_dns_cache() -> None:
    """Every test starts with an empty resolution cache."""
    clear_dns_cache()


def _run(case: dict[str, Any]) -> list[Finding]:
    tool = case.get("tool", "fetch_url")
    arg = case.get("arg", "url")
    value: Any = case["url"]
    for key in reversed(arg.split(".")[1:]):  # "json.callback" -> {"json": {"callback": url}}
        value = {key: value}
    call = ToolCall(tool, {**case.get("args", {}), arg.split(".")[0]: value})
    policy = EffectivePolicy((make_scope(**case["scope"]),)) if case.get("scope") else None
    settings = AnalyzerSettings(
        resolver=eval_resolver,
        resolve_dns=case.get("resolve_dns", True),
        allow_private_networks=tuple(case.get("allow", ())),
    )
    return analyze_http(call, make_context(call, policy=policy, settings=settings))


def _effect(findings: list[Finding]) -> str:
    if any(f.effect is Effect.BLOCK for f in findings):
        return "block"
    if any(f.effect is Effect.ESCALATE for f in findings):
        return "escalate"
    return "allow"


@pytest.mark.parametrize("case", CASES, ids=[f"{i:03d}-{c['note'][:40]}" for i, c in enumerate(CASES)])
def test_golden(case: dict[str, Any]) -> None:
    """Each fixture yields exactly its expected rules and combined effect."""
    findings = _run(case)
    rules = sorted({f.rule_id for f in findings if f.effect is not Effect.INFO})
    assert rules == sorted(case["expect"]), [f.to_dict() for f in findings]
    assert _effect(findings) == case["effect"], [f.to_dict() for f in findings]


def test_fixtures_cover_every_rule() -> None:
    """Every rule in the module docstring's table has at least one attack fixture."""
    documented = {
        line.split()[0].strip("`") for line in (http_module.__doc__ or "").splitlines() if line.startswith("``http.")
    }
    covered = {r for c in CASES for r in c["expect"]}
    assert documented
    assert documented <= covered, documented - covered


def test_findings_are_actionable() -> None:
    """Every finding has a one-line message, evidence and the argument it is about."""
    for case in CASES:
        for f in _run(case):
            assert f.message
            assert "\n" not in f.message
            assert f.evidence
            assert f.argument == case.get("arg", "url")


def test_doctests() -> None:
    """The module's docstring examples run."""
    result = doctest.testmod(http_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize(
    ("raw", "host", "obfuscated"),
    [
        ("http://0x7f.0.0.1/", "127.0.0.1", True),
        ("http://0177.0.0.01/", "127.0.0.1", True),
        ("http://127.0.0.1./", "127.0.0.1", True),
        ("http://127.0.0.1/", "127.0.0.1", False),
        ("HTTPS://Example.COM/", "example.com", False),
        ("https://bücher.de/", "xn--bcher-kva.de", False),
        ("http:\\\\127.0.0.1\\x", "127.0.0.1", False),
        ("http:///127.0.0.1/", "127.0.0.1", False),
        ("  \thttp://exa\nmple.com/ ", "example.com", False),
        ("//example.com/x", "example.com", False),
    ],
)
def test_parse_url_matches_real_clients(raw: str, host: str, obfuscated: bool) -> None:
    """Hosts come out as WHATWG clients read them: numeric forms, case, IDNA, slashes, stripped controls."""
    u = parse_url(raw)
    assert (u.host, u.obfuscated, u.error) == (host, obfuscated, None)


def test_parse_url_never_raises_on_garbage() -> None:
    """Malformed input yields an error field, not an exception."""
    for raw in ["http://[", "http://%zz/", "http://a b/", "://", "http://" + "a" * 5000, "http://[::1]x/", "\x00"]:
        assert isinstance(parse_url(raw).error, str | type(None))


def test_check_address_classes() -> None:
    """Every special-purpose range maps to its rule; public addresses pass."""
    expected = {
        "127.0.0.5": "http.loopback",
        "10.1.2.3": "http.private",
        "172.16.0.1": "http.private",
        "192.168.0.1": "http.private",
        "100.127.255.254": "http.private",
        "169.254.0.9": "http.link_local",
        "0.1.2.3": "http.unspecified",
        "239.1.1.1": "http.multicast",
        "203.0.113.9": "http.reserved",
        "::1": "http.loopback",
        "::": "http.unspecified",
        "fc00::5": "http.private",
        "fe80::9": "http.link_local",
        "2002:a9fe:a9fe::1": "http.metadata",
        "::ffff:10.0.0.1": "http.private",
        "2001:db8::1": "http.reserved",
        "168.63.129.16": "http.metadata",
        "::ffff:0:7f00:1": "http.loopback",
        "64:ff9b:1::a00:1": "http.private",
        "2002:7f00:1::": "http.loopback",
        "fd20:ce::254": "http.metadata",
    }
    for ip, rule in expected.items():
        p = check_address(ip)
        assert p is not None, ip
        assert p.rule_id == rule, (ip, p)
    for ip in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "100.128.0.1", "172.32.0.1"):
        assert check_address(ip) is None, ip


def test_allow_private_networks_is_exact() -> None:
    """An allowed CIDR exempts only addresses inside it; metadata needs a single-address entry."""
    assert check_address("10.0.0.5", ["10.0.0.0/24"]) is None
    assert check_address("10.0.1.5", ["10.0.0.0/24"]) is not None
    assert check_address("169.254.169.254", ["169.254.0.0/16"]) is not None
    assert check_address("169.254.169.254", ["169.254.169.254/32"]) is None
    assert check_address("127.0.0.1", ["not a cidr"]) is not None


def test_check_host_names() -> None:
    """Names that mean internal targets are caught without DNS; look-alikes pass."""
    assert check_host("instance-data").rule_id == "http.metadata"  # type: ignore[union-attr]
    assert check_host("foo.lvh.me").rule_id == "http.loopback"  # type: ignore[union-attr]
    assert check_host("make-1-2-3-4-rebind-169-254-169-254-rr.1u.ms").rule_id == "http.dns_rebinding"  # type: ignore[union-attr]
    assert check_host("c0a80001.nip.io").rule_id == "http.private"  # type: ignore[union-attr]
    assert check_host("metadata.google.internal.evil.example") is None
    assert check_host("mylocalhost.com") is None


def test_resolution_is_cached_and_time_bounded() -> None:
    """A resolution is reused within the TTL, and a hanging resolver escalates after the timeout."""
    calls: list[str] = []

    def counting(host: str, timeout: float) -> list[str]:
        calls.append(host)
        return ["93.184.216.34"]

    assert resolve("a.example", resolver=counting, ttl=60).addresses == ("93.184.216.34",)
    assert resolve("a.example", resolver=counting, ttl=60).cached
    assert calls == ["a.example"]

    gate = threading.Event()
    settings = AnalyzerSettings(dns_timeout=0.05)

    returned = threading.Event()

    def hanging(host: str, timeout: float) -> list[str]:
        gate.wait(30)
        returned.set()
        return ["93.184.216.34"]

    # The system path bounds a blocking resolver by running it in a worker thread.
    orig = http_module.socket.getaddrinfo
    http_module.socket.getaddrinfo = lambda *a, **k: hanging("x", 0) and []  # type: ignore[assignment]
    try:
        call = ToolCall("fetch_url", {"url": "https://slow.example/"})
        findings = analyze_http(call, make_context(call, settings=settings))
        assert not returned.is_set()  # decided while the resolver was still blocked: it did not wait for it
        assert [f.rule_id for f in findings] == ["http.dns_unresolved"]
        assert findings[0].effect is Effect.ESCALATE
    finally:
        gate.set()
        http_module.socket.getaddrinfo = orig  # type: ignore[assignment]


def test_every_answer_is_checked() -> None:
    """A name with one public and one private answer is blocked (attackers return both)."""
    settings = AnalyzerSettings(resolver=lambda h, t: ["93.184.216.34", "10.0.0.9"])
    call = ToolCall("fetch_url", {"url": "https://mixed.example/"})
    findings = analyze_http(call, make_context(call, settings=settings))
    assert [(f.rule_id, f.effect) for f in findings] == [("http.dns_private", Effect.BLOCK)]


def test_broken_resolver_escalates_not_crashes() -> None:
    """A resolver that raises something unexpected escalates instead of allowing or crashing."""

    def broken(host: str, timeout: float) -> list[str]:
        raise RuntimeError("boom")

    call = ToolCall("fetch_url", {"url": "https://x.example/"})
    findings = analyze_http(call, make_context(call, settings=AnalyzerSettings(resolver=broken)))
    assert [(f.rule_id, f.effect) for f in findings] == [("http.dns_unresolved", Effect.ESCALATE)]


def test_positional_and_nested_urls_are_seen() -> None:
    """A URL bound positionally or nested in a structure is analyzed like a named one."""
    settings = AnalyzerSettings(resolver=eval_resolver)
    for call in (
        ToolCall("fetch_url", {"url": "http://169.254.169.254/"}),
        ToolCall("fetch_url", {"urls": ["https://example.com", "http://169.254.169.254/"]}),
        ToolCall("call_api", {"request": {"target": "http://169.254.169.254/"}}),
    ):
        rules = {f.rule_id for f in analyze_http(call, make_context(call, settings=settings))}
        assert "http.metadata" in rules, call


async def test_async_callers_can_resolve_off_the_loop() -> None:
    """pending_resolutions names the uncached hosts; after prefetch in a thread the analyzer needs no DNS."""
    import asyncio

    calls: list[str] = []

    def counting(host: str, timeout: float) -> list[str]:
        calls.append(host)
        return ["93.184.216.34"]

    settings = AnalyzerSettings(resolver=counting)
    call = ToolCall("fetch_url", {"url": "https://warm.example/x", "host": "api.warm.example"})
    ctx = make_context(call, settings=settings)
    names = http_module.pending_resolutions(ctx)
    assert names == ["warm.example", "api.warm.example"]
    await asyncio.to_thread(http_module.prefetch, names, settings)
    assert http_module.pending_resolutions(ctx) == []
    assert analyze_http(call, ctx) == []
    assert calls == ["warm.example", "api.warm.example"]


def test_never_raises_on_hostile_input() -> None:
    """Random mixes of URL syntax, unicode and encodings never make the parser or the analyzer raise."""
    import random

    rnd = random.Random(20261125)
    pieces = [
        "http://",
        "//",
        "\\\\",
        "@",
        ":",
        "[",
        "]",
        "%",
        "%25",
        "0x",
        "127.0.0.1",
        "::ffff:",
        ".",
        "/",
        "?",
        "#",
        "localhost",
        "xn--",
        "gopher:",
        "file:",
        ":99999",
        "①",
        "。",
        "\u200b",
        "\x00",
        "-",
        "²",
        "ß",
        " ",
    ]
    settings = AnalyzerSettings(resolver=eval_resolver)
    for _ in range(3000):
        s = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 12)))
        parse_url(s)
        http_module.parse_host(s)
        for tool, arg in (("fetch_url", "url"), ("ping", "host"), ("summarize", "text")):
            call = ToolCall(tool, {arg: s})
            for f in analyze_http(call, make_context(call, settings=settings)):
                assert f.effect in (Effect.BLOCK, Effect.ESCALATE, Effect.INFO)
