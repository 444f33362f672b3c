"""Credentials in the formats of known credential files, and Basic credentials.

Helpers of `secrets`. A tool's text often *is* a credential file: a ``~/.docker/config.json``
pasted into an issue, an ``.npmrc`` posted to a webhook, a ``.netrc`` written to a shared
folder. Their secrets carry no token prefix (a registry password is whatever the user chose),
so they are found by the file's own grammar instead, and each knows the host it belongs to,
which makes sending it *there* a login rather than a leak:

========================  ==========================================================================
format                    what is a credential (and whose)
========================  ==========================================================================
Docker ``config.json``    ``"auths": {"<registry>": {"auth": "<base64 user:password>"}}``,
                          ``identitytoken``, ``registrytoken`` (the registry's)
``.npmrc``                ``//<registry>/:_authToken=``, ``_auth=`` (base64 user:password),
                          ``_password=`` (the registry's; ``registry.npmjs.org`` when unscoped)
``.netrc``                ``machine <host> login <user> password <secret>`` (the host's)
``.pgpass``               ``host:port:database:user:password`` (the host's)
``.pypirc``               ``password`` of an index section (its ``repository``, else pypi.org)
kubeconfig                a user's ``token``, ``password`` or ``client-key-data`` (the ``server``'s)
Maven ``settings.xml``    ``<server>``'s ``<password>``
========================  ==========================================================================

`basic_credentials` reads an ``Authorization: Basic`` value: base64 of ``user:password``. Its
user name sometimes names the service it belongs to (``x-access-token`` is GitHub's,
``__token__`` PyPI's, ``_json_key`` Google's registries', ``AWS`` ECR's); otherwise nothing
in the value says whose it is.

Every pattern is linear: no nested quantifiers over the same characters.

>>> [(what, hosts) for _, _, what, hosts in credential_file_secrets('{"auths": {"registry.acme.com": {"auth": "Y2ktYm90OlJrMjkteFE3cC1MbTN6"}}}')]
[('a registry password (Docker config)', ('registry.acme.com',))]
>>> basic_credentials("Basic YWRtaW46WnQ4IWtxMkBMcA==")
('admin', 'Zt8!kq2@Lp')
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["BASIC_USER_ISSUERS", "basic_credentials", "credential_file_secrets", "placeholder"]

_B64 = r"[A-Za-z0-9+/]{8,2048}={0,2}"
_DOCKER_AUTH = re.compile(r'"auth"\s*:\s*"(' + _B64 + r')"')
_DOCKER_TOKEN = re.compile(r'"(?:identitytoken|registrytoken)"\s*:\s*"([^"\s]{16,4096})"', re.IGNORECASE)
_JSON_KEY_OPEN = re.compile(r'"([A-Za-z0-9.\-_:/\[\]]{1,253})"\s*:\s*\{')
_NPMRC = re.compile(r"(?m)^[ \t]*(?://([^\s/:]+)[^\s:]*:)?(_authToken|_auth|_password)[ \t]*=[ \t]*(\S{8,4096})")
_NETRC = re.compile(
    r"(?:^|\s)(?:machine\s+(\S{1,253})|default)(?:\s+(?:login|account|port)\s+\S{1,256}){0,4}\s+password\s+(\S{1,256})"
)
_PGPASS = re.compile(r"(?m)^([A-Za-z0-9.\-_\[\]:*]{1,253}):(?:\d{1,5}|\*):[^:\s]{1,128}:[^:\s]{1,128}:(\S{6,256})$")
_INI_PASSWORD = re.compile(r"(?m)^[ \t]*password[ \t]*[:=][ \t]*(\S{1,1024})")
_INI_REPOSITORY = re.compile(r"(?m)^[ \t]*repository[ \t]*[:=][ \t]*\S*?://([^/\s:]+)")
_KUBE_SECRET = re.compile(r"(?m)^[ \t-]*(token|password|client-key-data)[ \t]*:[ \t]*[\"']?([^\s\"']{8,16384})")
_KUBE_SERVER = re.compile(r"(?m)^[ \t-]*server[ \t]*:[ \t]*[\"']?\w+://([^/\s:\"']+)")
_KUBECONFIG_KIND = re.compile(r"(?m)^kind:[ \t]*Config[ \t]*$")
_MAVEN_PASSWORD = re.compile(r"<password>([^<\s]{4,1024})</password>")
_PLACEHOLDER = re.compile(
    r"(?i)^(?:\$\{?[\w.\-]+\}?|\{\{?[^}]*\}?\}|<[^>]*>|%\(?\w*\)?s?|\*+|x+|\.+|-+|_+|\?+|"
    r"(?:your|my|the|some|example|sample|dummy|fake|test)[_\-]?\w*|password|passwd|pass|secret|changeme|redacted|"
    r"hidden|none|null|undefined|token|auth)$"
)

#: Basic-auth user names that say which service issued the password
BASIC_USER_ISSUERS: dict[str, tuple[str, ...]] = {
    "x-access-token": ("github.com", "githubusercontent.com", "ghe.com"),
    "x-oauth-basic": ("github.com", "githubusercontent.com", "ghe.com"),
    "gitlab-ci-token": ("gitlab.com",),
    "oauth2": ("gitlab.com",),
    "__token__": ("pypi.org", "test.pypi.org"),
    "_json_key": ("gcr.io", "pkg.dev", "googleapis.com"),
    "_json_key_base64": ("gcr.io", "pkg.dev", "googleapis.com"),
    "oauth2accesstoken": ("gcr.io", "pkg.dev", "googleapis.com"),
    "aws": ("amazonaws.com",),
}


def placeholder(value: str) -> bool:
    """A documented placeholder (``${NPM_TOKEN}``, ``<password>``, ``xxxx``), not a credential."""
    v = value.strip().strip("\"'")
    return not v or _PLACEHOLDER.match(v) is not None or len(set(v)) <= 2


def _user_password(b64: str) -> tuple[str, str] | None:
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=False).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    user, sep, password = raw.partition(":")
    if not sep or not password or not raw.isprintable() or len(user) > 256:
        return None
    return user, password


def basic_credentials(value: str) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic`` value, or None (a placeholder is None)."""
    v = value.strip()
    if v[:6].lower() != "basic ":
        return None
    pair = _user_password(v[6:].strip())
    if pair is None or placeholder(pair[1]) or (pair[0], pair[1]) in (("user", "pass"), ("username", "password")):
        return None
    return pair


def _registry_before(text: str, start: int) -> tuple[str, ...]:
    """The host of the ``"<registry>": {`` key that opens the record holding position *start*."""
    keys = [m.group(1) for m in _JSON_KEY_OPEN.finditer(text, max(0, start - 600), start)]
    for key in reversed(keys):
        host = key.split("://", 1)[-1].split("/", 1)[0].lower()
        if "." in host or host.startswith("localhost"):
            return (host.rsplit(":", 1)[0] if host.count(":") == 1 else host,)
    return ()


def credential_file_secrets(text: str) -> list[tuple[int, int, str, tuple[str, ...]]]:
    """``(start, end, what, hosts it belongs to)`` for each credential in a credential-file format."""
    out: list[tuple[int, int, str, tuple[str, ...]]] = []
    low = text.lower()
    if '"auth"' in text:
        for m in _DOCKER_AUTH.finditer(text):
            pair = _user_password(m.group(1))
            if pair is not None and not placeholder(pair[1]):
                out.append(
                    (m.start(1), m.end(1), "a registry password (Docker config)", _registry_before(text, m.start()))
                )
    if "identitytoken" in low or "registrytoken" in low:
        for m in _DOCKER_TOKEN.finditer(text):
            if not placeholder(m.group(1)):
                out.append(
                    (m.start(1), m.end(1), "a registry token (Docker config)", _registry_before(text, m.start()))
                )
    if "_auth" in text or "_password" in text:
        for m in _NPMRC.finditer(text):
            if placeholder(m.group(3)):
                continue
            host = m.group(1).lower() if m.group(1) else "npmjs.org"
            out.append((m.start(3), m.end(3), f"an npm registry credential (.npmrc {m.group(2)})", (host,)))
    if "password" in low:
        if "machine" in low or "default" in low:
            for m in _NETRC.finditer(text):
                if not placeholder(m.group(2)):
                    hosts = (m.group(1).lower(),) if m.group(1) else ()
                    out.append((m.start(2), m.end(2), "a password (.netrc)", hosts))
        if "[distutils]" in low or "[pypi]" in low or "[testpypi]" in low or "index-servers" in low:
            repo = _INI_REPOSITORY.search(text)
            hosts = (repo.group(1).lower(),) if repo else ("pypi.org",)
            for m in _INI_PASSWORD.finditer(text):
                if not placeholder(m.group(1)):
                    out.append((m.start(1), m.end(1), "a package index password (.pypirc)", hosts))
        if "<server>" in low:
            for m in _MAVEN_PASSWORD.finditer(text):
                if not placeholder(m.group(1)) and not m.group(1).startswith("{"):  # {...} is Maven-encrypted
                    out.append((m.start(1), m.end(1), "a repository password (Maven settings)", ()))
    if ("users:" in low and "clusters:" in low) or _KUBECONFIG_KIND.search(text):
        server = _KUBE_SERVER.search(text)
        hosts = (server.group(1).lower(),) if server else ()
        for m in _KUBE_SECRET.finditer(text):
            if not placeholder(m.group(2)):
                out.append((m.start(2), m.end(2), f"a cluster credential (kubeconfig {m.group(1)})", hosts))
    if text.count(":") >= 4:
        for m in _PGPASS.finditer(text):
            if not placeholder(m.group(2)) and not m.group(1).isdigit():
                out.append((m.start(2), m.end(2), "a database password (.pgpass)", (m.group(1).lower(),)))
    return out
