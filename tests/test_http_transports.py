"""Tests for agentgate.http: requests/httpx clients that connect only to vetted addresses."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import requests

import agentgate.http as ahttp
from agentgate._call import ToolCall
from agentgate._decision import Effect
from agentgate.analyzers.base import AnalyzerSettings, make_context
from agentgate.analyzers.http import analyze_http, clear_dns_cache
from agentgate.http import AsyncGuardedTransport, DestinationBlockedError, GuardedTransport, Session

LOCAL = ["127.0.0.1/32"]


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", self.path.split("to=", 1)[1])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = f"host={self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    """A local HTTP server on 127.0.0.1; yields its port."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Record every address a TCP connect is attempted to (socket-level, both clients)."""
    clear_dns_cache()
    seen: list[str] = []
    real = socket.create_connection
    real_u3 = ahttp._u3conn.create_connection

    def spy(address: tuple[str, int], *a: object, **k: object) -> socket.socket:
        seen.append(address[0])
        return real(address, *a, **k)  # type: ignore[arg-type]

    def spy_u3(address: tuple[str, int], *a: object, **k: object) -> socket.socket:
        seen.append(address[0])
        return real_u3(address, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", spy)
    monkeypatch.setattr(ahttp._u3conn, "create_connection", spy_u3)
    yield seen
    clear_dns_cache()


def _rebinding(first: str, then: str) -> Callable[[str, float], list[str]]:
    """A resolver whose first answer is *first* and every later one *then*."""
    answers = [first]

    def resolver(host: str, timeout: float) -> list[str]:
        return [answers.pop()] if answers else [then]

    return resolver


def test_requests_refuses_loopback_by_default(server: int, connections: list[str]) -> None:
    """A guarded requests session will not connect to 127.0.0.1 unless allowed."""
    with pytest.raises(DestinationBlockedError) as e:
        Session().get(f"http://127.0.0.1:{server}/")
    assert e.value.rule_id == "http.loopback"
    assert connections == []


def test_requests_allowed_network_connects(server: int) -> None:
    """allow_private_networks lets the session reach the local server."""
    r = Session(allow_private_networks=LOCAL).get(f"http://127.0.0.1:{server}/")
    assert r.status_code == 200


def test_requests_pins_the_vetted_address_and_keeps_the_name(server: int, connections: list[str]) -> None:
    """A name resolves through the guard; the socket goes to the vetted IP, the Host header keeps the name."""
    s = Session(settings=AnalyzerSettings(resolver=lambda h, t: ["127.0.0.1"], allow_private_networks=tuple(LOCAL)))
    r = s.get(f"http://api.test:{server}/")
    assert r.text == f"host=api.test:{server}"
    assert connections == ["127.0.0.1"]


def test_requests_rebinding_never_reaches_second_answer(server: int, connections: list[str]) -> None:
    """First answer allowed, second answer metadata: the second connection is refused before connecting."""
    settings = AnalyzerSettings(resolver=_rebinding("127.0.0.1", "169.254.169.254"), dns_cache_ttl=0.0)
    s = Session(settings=settings, allow_private_networks=LOCAL)
    assert s.get(f"http://rebind.test:{server}/", headers={"Connection": "close"}).status_code == 200
    with pytest.raises(DestinationBlockedError) as e:
        s.get(f"http://rebind.test:{server}/", headers={"Connection": "close"})
    assert e.value.rule_id == "http.metadata"
    assert "169.254.169.254" not in connections


def test_transport_uses_the_answer_the_analyzer_vetted(server: int, connections: list[str]) -> None:
    """Within the cache TTL the transport connects to exactly what the analyzer checked, not a new answer."""
    resolver = _rebinding("127.0.0.1", "169.254.169.254")
    settings = AnalyzerSettings(resolver=resolver, allow_private_networks=tuple(LOCAL), dns_cache_ttl=60.0)
    url = f"http://cached.test:{server}/"
    call = ToolCall("fetch_url", {"url": url})
    assert analyze_http(call, make_context(call, settings=settings)) == []
    assert Session(settings=settings).get(url).status_code == 200
    assert connections == ["127.0.0.1"]


def test_requests_redirect_to_metadata_is_refused(server: int, connections: list[str]) -> None:
    """A redirect hop to the metadata service is vetted like the first request."""
    s = Session(allow_private_networks=LOCAL)
    with pytest.raises(DestinationBlockedError) as e:
        s.get(f"http://127.0.0.1:{server}/redirect?to=http://169.254.169.254/latest/meta-data/")
    assert e.value.rule_id == "http.metadata"
    assert "169.254.169.254" not in connections


def test_requests_unresolvable_and_obfuscated(connections: list[str]) -> None:
    """Unresolvable names and obfuscated internal addresses are refused without a connection."""
    s = Session(resolver=lambda h, t: (_ for _ in ()).throw(OSError("NXDOMAIN")))
    with pytest.raises(DestinationBlockedError) as e:
        s.get("http://nowhere.test/")
    assert e.value.rule_id == "http.dns_unresolved"
    with pytest.raises(DestinationBlockedError) as e:
        s.get("http://0x7f000001:9/")
    assert e.value.rule_id == "http.loopback"
    assert connections == []


def test_requests_proxy_is_refused_by_default() -> None:
    """A proxy would resolve the name itself, so the guarded session refuses it unless allowed."""
    s = Session()
    with pytest.raises(DestinationBlockedError) as e:
        s.get("http://example.com/", proxies={"http": "http://127.0.0.1:9"})
    assert e.value.rule_id == "http.proxy"


def test_mount_guard_on_existing_session(server: int) -> None:
    """mount_guard guards a session the user already has."""
    s = ahttp.mount_guard(requests.Session())
    with pytest.raises(DestinationBlockedError):
        s.get(f"http://localhost:{server}/")


def test_httpx_sync(server: int, connections: list[str]) -> None:
    """GuardedTransport: blocked by default, allowed when exempted, pinned to the vetted IP."""
    with httpx.Client(transport=GuardedTransport()) as c, pytest.raises(DestinationBlockedError):
        c.get(f"http://127.0.0.1:{server}/")
    assert connections == []
    t = GuardedTransport(resolver=lambda h, tm: ["127.0.0.1"], allow_private_networks=LOCAL)
    with httpx.Client(transport=t) as c:
        r = c.get(f"http://svc.test:{server}/")
    assert r.text == f"host=svc.test:{server}"
    assert connections == ["127.0.0.1"]


def test_httpx_sync_rebinding(server: int, connections: list[str]) -> None:
    """httpx: the rebinding resolver's second answer is never connected to."""
    settings = AnalyzerSettings(resolver=_rebinding("127.0.0.1", "169.254.169.254"), dns_cache_ttl=0.0)
    t = GuardedTransport(settings=settings)
    t.guard.allow = tuple(LOCAL)
    with httpx.Client(transport=t, headers={"Connection": "close"}) as c:
        assert c.get(f"http://rebind.test:{server}/").status_code == 200
        with pytest.raises(DestinationBlockedError) as e:
            c.get(f"http://rebind.test:{server}/")
    assert e.value.rule_id == "http.metadata"
    assert "169.254.169.254" not in connections


def test_httpx_redirect_refused(server: int, connections: list[str]) -> None:
    """httpx follow_redirects hops are vetted too."""
    t = GuardedTransport(allow_private_networks=LOCAL)
    with httpx.Client(transport=t, follow_redirects=True) as c, pytest.raises(DestinationBlockedError):
        c.get(f"http://127.0.0.1:{server}/redirect?to=http://10.1.2.3/")
    assert "10.1.2.3" not in connections


async def test_httpx_async(server: int, connections: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """AsyncGuardedTransport blocks, allows and pins like the sync one, including rebinding."""
    import anyio

    real = anyio.connect_tcp

    async def spy(remote_host: str, remote_port: int, **kw: object) -> anyio.abc.SocketStream:
        connections.append(remote_host)
        return await real(remote_host, remote_port, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(anyio, "connect_tcp", spy)
    async with httpx.AsyncClient(transport=AsyncGuardedTransport()) as c:
        with pytest.raises(DestinationBlockedError):
            await c.get(f"http://localhost:{server}/")
    settings = AnalyzerSettings(resolver=_rebinding("127.0.0.1", "169.254.169.254"), dns_cache_ttl=0.0)
    t = AsyncGuardedTransport(settings=settings, allow_private_networks=LOCAL)
    async with httpx.AsyncClient(transport=t, headers={"Connection": "close"}) as c:
        r = await c.get(f"http://arebind.test:{server}/")
        assert r.text == f"host=arebind.test:{server}"
        with pytest.raises(DestinationBlockedError):
            await c.get(f"http://arebind.test:{server}/")
    assert connections == ["127.0.0.1"]


def test_guard_and_settings_are_exclusive() -> None:
    """Passing both a Guard and settings is a usage error, not a silent choice."""
    with pytest.raises(TypeError):
        GuardedTransport(ahttp.Guard(), settings=AnalyzerSettings())


def test_analyzer_and_guard_agree() -> None:
    """The guard refuses what the analyzer blocks, with the same rule id."""
    settings = AnalyzerSettings(resolver=lambda h, t: ["10.9.9.9"])
    call = ToolCall("fetch_url", {"url": "http://intra.example/"})
    findings = analyze_http(call, make_context(call, settings=settings))
    assert [(f.rule_id, f.effect) for f in findings] == [("http.dns_private", Effect.BLOCK)]
    with pytest.raises(DestinationBlockedError) as e:
        ahttp.Guard(settings).vet("intra.example")
    assert e.value.rule_id == "http.dns_private"


# A self-signed certificate valid only for "api.test" (2026-2125), made for this test with
# the `cryptography` package; embedded so the test needs no certificate tooling at run time.
TEST_CERT = """-----BEGIN CERTIFICATE-----
MIIBUTCB+KADAgECAhRuC8RxywwKrRthc4N50PbiUIYDAjAKBggqhkjOPQQDAjAT
MREwDwYDVQQDDAhhcGkudGVzdDAgFw0yNjAxMDEwMDAwMDBaGA8yMTI1MTIwODAw
MDAwMFowEzERMA8GA1UEAwwIYXBpLnRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMB
BwNCAAS6XzXLLS+EoGScXDjPTFa2Db22mBqOxBIYLrKN/NI4eB4c/uZgdM3NGewb
z4WDQAQREg5O6Xnfo4wARGcSS54IoygwJjATBgNVHREEDDAKgghhcGkudGVzdDAP
BgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gAMEUCIQDunfc7i03SUVztgbQy
onYM9ECap85eEBhrOQrbJCGiTwIgf8lnkc9VKBm+IZhZOTZYLTQMV020n4P6ACuV
p1j/on0=
-----END CERTIFICATE-----
"""
TEST_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgc9eWYhoHPDqmvcSS
8EcvwVAVvRlp7VjAz9wGCsbhKSmhRANCAAS6XzXLLS+EoGScXDjPTFa2Db22mBqO
xBIYLrKN/NI4eB4c/uZgdM3NGewbz4WDQAQREg5O6Xnfo4wARGcSS54I
-----END PRIVATE KEY-----
"""


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, str, list[str]]]:
    """An HTTPS server on 127.0.0.1 whose certificate is valid only for ``api.test``; yields (port, CA file, SNI names seen)."""
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_text(TEST_CERT)
    key_file.write_text(TEST_KEY)
    sni: list[str] = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    ctx.sni_callback = lambda sock, server_name, c: sni.append(server_name or "")  # type: ignore[assignment,misc,func-returns-value]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    t.start()
    yield srv.server_address[1], str(cert_file), sni
    srv.shutdown()
    srv.server_close()


def test_https_keeps_sni_and_certificate_name(tls_server: tuple[int, str, list[str]], connections: list[str]) -> None:
    """Pinned HTTPS connections send the name as SNI and verify the certificate against the name, not the IP."""
    port, ca, sni = tls_server
    settings = AnalyzerSettings(resolver=lambda h, t: ["127.0.0.1"], allow_private_networks=tuple(LOCAL))
    assert Session(settings=settings).get(f"https://api.test:{port}/", verify=ca).text == f"host=api.test:{port}"
    with httpx.Client(transport=GuardedTransport(settings=settings, verify=ssl.create_default_context(cafile=ca))) as c:
        assert c.get(f"https://api.test:{port}/").text == f"host=api.test:{port}"
    assert sni == ["api.test", "api.test"]
    assert connections == ["127.0.0.1", "127.0.0.1"]
    with pytest.raises(requests.exceptions.SSLError):
        Session(settings=settings).get(f"https://127.0.0.1:{port}/", verify=ca)  # the cert does not name the IP
