"""HTTP clients that connect only to addresses the firewall vetted (no DNS rebinding).

The firewall's HTTP analyzer resolves a URL's host and checks every address
*before* the tool runs. A tool that then fetches with a plain client resolves the
name again, and an attacker's DNS server can answer differently the second time
(``169.254.169.254``): that is DNS rebinding. The clients here close the gap: at
every TCP connect (first request, redirects, retries, new pooled connections) they

1. resolve the name through the same cache the analyzer used (so within the
   cache TTL they get exactly the answer the analyzer vetted),
2. check every address with the analyzer's rules (`agentgate.analyzers.http.check_address`
   and the name rules: loopback/metadata names, wildcard-DNS names ...),
3. connect to a vetted IP, keeping the name for the ``Host`` header, TLS SNI and
   certificate verification; or raise `DestinationBlockedError` before any byte is sent.

requests::

    import agentgate.http
    session = agentgate.http.Session()              # a requests.Session, guarded
    agentgate.http.mount_guard(existing_session)    # or guard a session you have

httpx::

    client = httpx.Client(transport=agentgate.http.GuardedTransport())
    aclient = httpx.AsyncClient(transport=agentgate.http.AsyncGuardedTransport())

Settings come from an `AnalyzerSettings` (``allow_private_networks`` to reach an
internal API, ``resolver``, ``dns_timeout``, ``dns_cache_ttl``); pass the same one
the firewall uses. Proxies are refused by default: a proxy resolves the name
itself, so the address cannot be pinned (``allow_proxies=True`` accepts that, and
still vets the proxy's own address). Needs ``pip install 'agentgate-action-firewall[http]'``.
"""

from __future__ import annotations

import socket
import ssl
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from ._errors import AgentGateError, MissingDependencyError
from .analyzers.base import AnalyzerSettings
from .analyzers.http import AddressProblem, check_address, check_host, parse_host, resolve

try:
    import anyio
    import httpcore
    import httpx
    import requests
    import requests.adapters
    import urllib3
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
    from urllib3.util import connection as _u3conn
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError(e.name or "requests/httpx", "http") from e

__all__ = [
    "AsyncGuardedTransport",
    "DestinationBlockedError",
    "Guard",
    "GuardedAdapter",
    "GuardedTransport",
    "Session",
    "mount_guard",
]


class DestinationBlockedError(AgentGateError):
    """A guarded client refused to connect.

    Attributes:
        host: The host the request named.
        rule_id: The analyzer rule (``http.metadata``, ``http.dns_private``, ``http.dns_unresolved`` ...).
        address: The offending address, when there is one.
    """

    def __init__(self, host: str, rule_id: str, reason: str, address: str = "") -> None:
        self.host = host
        self.rule_id = rule_id
        self.address = address
        super().__init__(f"[AgentGate] refused to connect to {host!r}: {reason} ({rule_id})")


class Guard:
    """Resolves a host and returns the addresses it may connect to, or raises.

    Args:
        settings: The analyzer settings (default: ``AnalyzerSettings()``). Resolution
            always happens here, whatever ``settings.resolve_dns`` says: a client
            must know the address it connects to.
        allow_private_networks: Overrides ``settings.allow_private_networks``.
        resolver: Overrides ``settings.resolver``.
    """

    def __init__(
        self,
        settings: AnalyzerSettings | None = None,
        *,
        allow_private_networks: Iterable[str] | None = None,
        resolver: typing.Callable[[str, float], list[str]] | None = None,
    ) -> None:
        s = settings or AnalyzerSettings()
        self.allow: tuple[str, ...] = tuple(
            allow_private_networks if allow_private_networks is not None else s.allow_private_networks
        )
        self.resolver = resolver or s.resolver
        self.timeout = s.dns_timeout
        self.ttl = s.dns_cache_ttl

    def vet(self, host: str) -> list[str]:
        """The addresses *host* may be reached at (all of its answers passed), or raise."""
        u = parse_host(host)
        if u.error is not None or not u.host:
            raise DestinationBlockedError(host, "http.unparsable", u.error or "no host")
        if u.ip is not None:
            self._raise_if(host, check_address(u.ip, self.allow))
            return [str(u.ip)]
        self._raise_if(host, check_host(u.host, self.allow))
        res = resolve(u.host, resolver=self.resolver, timeout=self.timeout, ttl=self.ttl)
        if res.error is not None:
            raise DestinationBlockedError(host, "http.dns_unresolved", f"did not resolve ({res.error})")
        for ip in res.addresses:
            p = check_address(ip, self.allow)
            if p is not None:
                rule = p.rule_id if p.rule_id == "http.metadata" else "http.dns_private"
                raise DestinationBlockedError(host, rule, f"resolves to {p.reason}", ip)
        return list(res.addresses)

    @staticmethod
    def _raise_if(host: str, p: AddressProblem | None) -> None:
        if p is not None:
            raise DestinationBlockedError(host, p.rule_id, p.reason, p.address)


def _as_guard(
    guard: Guard | None,
    settings: AnalyzerSettings | None,
    allow_private_networks: Iterable[str] | None,
    resolver: typing.Callable[[str, float], list[str]] | None,
) -> Guard:
    if guard is not None:
        if settings is not None or allow_private_networks is not None or resolver is not None:
            raise TypeError("pass either guard= or settings/allow_private_networks/resolver, not both")
        return guard
    return Guard(settings, allow_private_networks=allow_private_networks, resolver=resolver)


# --------------------------------------------------------------------------- requests


def _guarded_conn_classes(guard: Guard) -> tuple[type[HTTPConnection], type[HTTPSConnection]]:
    def new_conn(conn: HTTPConnection) -> socket.socket:
        last: Exception | None = None
        for ip in guard.vet(conn._dns_host):
            try:
                return _u3conn.create_connection(
                    (ip, conn.port),
                    conn.timeout,
                    source_address=conn.source_address,
                    socket_options=conn.socket_options,
                )
            except TimeoutError as e:
                raise ConnectTimeoutError(
                    conn, f"Connection to {conn.host} ({ip}) timed out. (connect timeout={conn.timeout})"
                ) from e
            except OSError as e:
                last = e
        raise NewConnectionError(conn, f"Failed to establish a new connection: {last}")

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return new_conn(self)

    return GuardedHTTPConnection, GuardedHTTPSConnection


def _guard_pool_manager(pm: urllib3.PoolManager, guard: Guard) -> None:
    http_cls, https_cls = _guarded_conn_classes(guard)
    http_pool = type("GuardedHTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_cls})
    https_pool = type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls})
    pm.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}


class GuardedAdapter(requests.adapters.HTTPAdapter):
    """A requests transport adapter whose every connection goes to a vetted address.

    Args:
        guard: A `Guard`; or build one from *settings* and the keyword overrides.
        allow_proxies: Accept a configured proxy (the proxy resolves names itself,
            so only the proxy's address is vetted). Default: refuse.
        **kwargs: ``pool_connections``, ``pool_maxsize``, ``max_retries``, ``pool_block``.
    """

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        settings: AnalyzerSettings | None = None,
        allow_proxies: bool = False,
        allow_private_networks: Iterable[str] | None = None,
        resolver: typing.Callable[[str, float], list[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        self.guard = _as_guard(guard, settings, allow_private_networks, resolver)
        self.allow_proxies = allow_proxies
        super().__init__(**kwargs)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        """Build the pool manager with guarded connection pools."""
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        _guard_pool_manager(self.poolmanager, self.guard)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> urllib3.ProxyManager:
        """Proxy managers get guarded pools too (they connect to the proxy's vetted address)."""
        pm: urllib3.ProxyManager = super().proxy_manager_for(proxy, **proxy_kwargs)
        _guard_pool_manager(pm, self.guard)
        return pm

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send *request*, refusing proxies unless ``allow_proxies`` (see class docstring)."""
        if proxies and not self.allow_proxies:
            proxy = requests.utils.select_proxy(request.url or "", proxies)
            if proxy:
                host = parse_host(request.url or "").host
                raise DestinationBlockedError(
                    host,
                    "http.proxy",
                    f"a proxy ({proxy}) would resolve the name itself; pass allow_proxies=True to accept",
                )
        return super().send(request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies)


def mount_guard(session: requests.Session, guard: Guard | None = None, **kwargs: Any) -> requests.Session:
    """Mount a `GuardedAdapter` for ``http://`` and ``https://`` on *session* and return it.

    Environment proxies are disabled on the session (``trust_env = False``) unless
    ``allow_proxies=True``: see the module docstring.
    """
    adapter = GuardedAdapter(guard, **kwargs)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if not adapter.allow_proxies:
        session.trust_env = False
    return session


class Session(requests.Session):
    """A `requests.Session` that connects only to vetted addresses.

    Accepts the `GuardedAdapter` arguments (``guard``, ``settings``,
    ``allow_private_networks``, ``resolver``, ``allow_proxies``).
    """

    def __init__(self, guard: Guard | None = None, **kwargs: Any) -> None:
        super().__init__()
        mount_guard(self, guard, **kwargs)


# --------------------------------------------------------------------------- httpx


class _SyncBackend(httpcore.NetworkBackend):
    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for ip in self._guard.vet(host):
            try:
                return self._inner.connect_tcp(ip, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:
                last = e
        raise last or httpcore.ConnectError(f"no address for {host}")

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise DestinationBlockedError(path, "http.unix_socket", "unix sockets bypass address checks")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, guard: Guard) -> None:
        self._guard = guard
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        # Resolution may block (system resolver): keep it off the event loop.
        ips = await anyio.to_thread.run_sync(self._guard.vet, host)
        last: Exception | None = None
        for ip in ips:
            try:
                return await self._inner.connect_tcp(ip, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as e:
                last = e
        raise last or httpcore.ConnectError(f"no address for {host}")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationBlockedError(path, "http.unix_socket", "unix sockets bypass address checks")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _pool_kwargs(
    verify: ssl.SSLContext | str | bool,
    cert: Any,
    trust_env: bool,
    http1: bool,
    http2: bool,
    limits: httpx.Limits | None,
    local_address: str | None,
    retries: int,
    socket_options: Iterable[Any] | None,
) -> dict[str, Any]:
    lim = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
    return {
        "ssl_context": httpx.create_ssl_context(verify=verify, cert=cert, trust_env=trust_env),
        "max_connections": lim.max_connections,
        "max_keepalive_connections": lim.max_keepalive_connections,
        "keepalive_expiry": lim.keepalive_expiry,
        "http1": http1,
        "http2": http2,
        "local_address": local_address,
        "retries": retries,
        "socket_options": socket_options,
    }


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose every connection goes to a vetted address.

    Takes httpx's ``HTTPTransport`` arguments except ``proxy`` and ``uds`` (both
    bypass address pinning), plus ``guard`` / ``settings`` /
    ``allow_private_networks`` / ``resolver``.
    """

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        settings: AnalyzerSettings | None = None,
        allow_private_networks: Iterable[str] | None = None,
        resolver: typing.Callable[[str, float], list[str]] | None = None,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        local_address: str | None = None,
        retries: int = 0,
        socket_options: Iterable[Any] | None = None,
    ) -> None:
        self.guard = _as_guard(guard, settings, allow_private_networks, resolver)
        pool = _pool_kwargs(verify, cert, trust_env, http1, http2, limits, local_address, retries, socket_options)
        # Not calling super().__init__: it would build a second SSL context and pool.
        # HTTPTransport keeps its connection pool in ``_pool``; ours differs only by its network backend.
        self._pool = httpcore.ConnectionPool(network_backend=_SyncBackend(self.guard), **pool)


class AsyncGuardedTransport(httpx.AsyncHTTPTransport):
    """The async twin of `GuardedTransport` (asyncio and trio, via anyio)."""

    def __init__(
        self,
        guard: Guard | None = None,
        *,
        settings: AnalyzerSettings | None = None,
        allow_private_networks: Iterable[str] | None = None,
        resolver: typing.Callable[[str, float], list[str]] | None = None,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        local_address: str | None = None,
        retries: int = 0,
        socket_options: Iterable[Any] | None = None,
    ) -> None:
        self.guard = _as_guard(guard, settings, allow_private_networks, resolver)
        pool = _pool_kwargs(verify, cert, trust_env, http1, http2, limits, local_address, retries, socket_options)
        self._pool = httpcore.AsyncConnectionPool(network_backend=_AsyncBackend(self.guard), **pool)
