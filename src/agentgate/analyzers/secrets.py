"""Secrets in outgoing data: credentials an agent is about to send, post or write.

One detector (`find_secrets`) serves two masters: this analyzer, which decides
whether a call leaks a credential, and the audit trail, which calls `redact`
before persisting so no record ever stores one.

Rules:

==============================  ===========================================================
rule                            what
==============================  ===========================================================
``secrets.private_key``         a PEM / OpenSSH / PuTTY private key with a body
``secrets.aws_key``             an AWS access key id (``AKIA``/``ASIA``...) or secret key
``secrets.github_token``        ``ghp_``/``gho_``/``ghs_``/``ghu_``/``ghr_``/``github_pat_``
``secrets.gitlab_token``        ``glpat-`` and the other GitLab token prefixes
``secrets.slack_token``         ``xoxb-``/``xoxp-``/``xapp-`` tokens, Slack webhook URLs
``secrets.stripe_key``          ``sk_live_``/``sk_test_``/``rk_*`` secret keys, ``whsec_``
``secrets.openai_key``          ``sk-proj-``/``sk-svcacct-``/legacy ``sk-...T3BlbkFJ...``
``secrets.anthropic_key``       ``sk-ant-api03-...`` and admin keys
``secrets.api_token``           SendGrid, npm, PyPI, Hugging Face, DigitalOcean, Shopify, Square,
                                Databricks, Telegram, Google API keys; any credential pasted with
                                its ``Authorization: Bearer`` header
``secrets.jwt``                 a JSON Web Token that has not expired
``secrets.connection_string``   ``scheme://user:password@host``, ``Password=...`` with a server,
                                Azure ``AccountKey=...``
``secrets.credential_file``     a credential in a credential file's own grammar (`_credfiles`): Docker
                                ``auths.<registry>.auth``, ``.npmrc`` ``_auth``/``_authToken``, ``.netrc``,
                                ``.pgpass``, ``.pypirc``, kubeconfig user tokens and keys, Maven
                                ``<password>``; each knows its host, so sending it there is a login
``secrets.basic_auth``          ``Authorization: Basic`` (or ``user:password@`` in the URL fetched) sent
                                to a host: escalate unless something in the call ties the credential
                                to that host (see "Basic credentials" below)
``secrets.card_number``         a Luhn-valid card number with a card prefix and card context
``secrets.password``            ``password = "..."``-style assignments of a real-looking value
``secrets.credential_reference``  ``$GITHUB_TOKEN``, ``${AWS_SECRET_ACCESS_KEY}``, ``os.environ["..."]``,
                                ``process.env.X`` of a known issuer, in a request or command that goes
                                to a host that is not that issuer (``$GITHUB_TOKEN`` to
                                ``api.github.com`` is its use; to a paste site, a leak)
==============================  ===========================================================

Every rule also fires on secrets hidden in an encoding (`_secretcodec`): base64 and
base64url, hex, URL-encoding, reversed text, and tokens split by dashes or blanks
(``AKIA-BDSO-...``); decoding is bounded to candidate runs of plausible alphabet and
length. Long texts are scanned in overlapping windows with the tier-1 budget checked
between them.

Where it applies and what it does (the *destination* decides):

* **send** (e-mail, message, any ``send`` tool, publishing tools such as
  ``create_gist``/``paste``/``tweet``) and **network** (HTTP bodies,
  query strings, URLs): block. Exceptions: a token sent to its own issuer
  (a GitHub token to ``api.github.com``, a Slack webhook posted to
  ``hooks.slack.com``, a JWT to the host of its ``iss`` claim) is the normal use; a JWT, an OpenAI-format key or a
  password in an HTTP *header* argument is ordinary authentication (OpenAI-compatible
  gateways reuse the ``sk-`` format); a JWT in an HTTP body escalates (OAuth
  assertions are legitimate); a Google API key, a pasted ``Authorization`` header and
  ``password=`` assignments escalate. A URL credential sent to its own server is a login.
* **write** (file and database writes, commits, logs, notes): escalate, unless the file is a secret
  store (``.env``, ``*.pem``, ``~/.aws/credentials``, ``.netrc`` ...) or the tool is a
  secret manager by name (``store_secret``, ``vault_write``) where secrets belong.
  ``.env.example`` is not a secret store: it gets committed.
* **shell/code** whose text reaches the network (``curl``, ``wget``, a URL ...): block.
* **Basic credentials** (an ``Authorization: Basic`` header, or a ``user:password@`` URL that
  an HTTP tool fetches) name no issuer: one call cannot prove the host is the service the
  password belongs to. A user name that names its service (``x-access-token`` is GitHub's,
  ``__token__`` PyPI's, ``_json_key`` Google's, ``AWS`` ECR's) blocks anywhere else. Otherwise
  the call passes when the request is shaped like a login to that host's own API (a registry's
  ``/v2/``, ``/api/``, ``/rest/``, ``/login``, ``/oauth``, ``/token``, git's ``info/refs`` ...)
  and escalates when it is not (``GET https://collect.example.org/ping`` with a Basic header):
  the judge, who sees the task, decides. An attacker's own host can serve ``/api/``; that is
  why the shape only keeps a login from escalating and never vouches for a host a scope denies.
  Commands follow the same rule: ``curl -u user:password`` and ``https://user:password@`` URLs.
* Payment tools may carry card numbers (that is their job); card numbers are
  only flagged elsewhere. Configuration and deploy tools store secrets by design
  and are not scanned.

False positives are kept low by construction: every token type has a fixed
prefix and length, card numbers need Luhn *and* an issuer prefix *and* card
context (a keyword nearby or card-style grouping), PEM needs a real body, JWTs
must decode. An AWS access key id alone (no secret key in the
same text) that the text reports as revoked, deactivated or deleted is an identifier,
not a credential. Known documentation values (``AKIAIOSFODNN7EXAMPLE``, Stripe's and
jwt.io's samples, processors' test card numbers, ``xxxx`` placeholders) are
recognised as examples and not flagged (but are still masked by `redact`).
UUIDs, git SHAs, hashes and base64 images match no rule.

>>> [m.rule_id for m in find_secrets("key: AKIAZ7QW3ERT5YUI8OPL and ghp_" + "a1B2" * 9)]
['secrets.aws_key', 'secrets.github_token']
>>> redact({"body": "token ghp_" + "a1B2" * 9, "n": 3})
({'body': 'token ghp_[REDACTED:github_token]', 'n': 3}, True)
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers import _fastpath
from agentgate.analyzers._credfiles import BASIC_USER_ISSUERS, basic_credentials, credential_file_secrets
from agentgate.analyzers._secretcodec import decoded_views, has_run
from agentgate.analyzers.base import note_side_input, windows
from agentgate.analyzers.classify import tokens

if TYPE_CHECKING:
    from agentgate._call import ToolCall

    from .base import Context

__all__ = ["SecretMatch", "analyze_secrets", "find_secrets", "redact"]

_MAX_SCAN = 1_000_000  # characters per string; beyond that, a payload is not a tool argument


@dataclass(frozen=True, slots=True)
class SecretMatch:
    """One secret found in a text.

    Attributes:
        rule_id: ``secrets.aws_key``, ``secrets.jwt`` ...
        label: Short name used in masks (``aws_key``).
        start: Offset of the secret in the text.
        end: End offset.
        keep: How many leading characters are a non-secret prefix (``ghp_``) kept by masks.
        example: A documentation/test value or a placeholder, not a live secret.
        providers: Host suffixes of the issuer (a token sent there is its normal use).
        confidence: ``high`` for fixed-format tokens, ``medium`` for heuristics.
    """

    rule_id: str
    label: str
    start: int
    end: int
    keep: int = 0
    example: bool = False
    providers: tuple[str, ...] = ()
    confidence: str = "high"


_B = r"(?<![A-Za-z0-9_\-])"  # token boundary: not inside a longer word/base64 run
_E = r"(?![A-Za-z0-9_\-])"

# (rule_id, label, kept-prefix regex group name, providers, confidence)
_TOKEN_SPECS: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    (
        "anthropic",
        r"sk-ant-(?:api|admin|oat|ort)\d{2}-[A-Za-z0-9_\-]{20,}",
        "secrets.anthropic_key",
        ("anthropic.com",),
        "high",
    ),
    (
        "openai",
        r"sk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_\-]{20,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|sk-[A-Za-z0-9_\-]{32,}",
        "secrets.openai_key",
        ("openai.com", "openai.azure.com"),
        "high",
    ),
    (
        "stripe",
        r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}|whsec_[A-Za-z0-9]{24,}",
        "secrets.stripe_key",
        ("stripe.com",),
        "high",
    ),
    (
        "github",
        r"gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{50,}",
        "secrets.github_token",
        ("github.com", "githubusercontent.com", "ghe.com"),
        "high",
    ),
    (
        "gitlab",
        r"gl(?:pat|dt|rt|ptt|cbt|ft|soat|agent)-[0-9A-Za-z_\-]{20,}",
        "secrets.gitlab_token",
        ("gitlab.com",),
        "high",
    ),
    (
        "slack",
        r"xox[abposr]-[0-9A-Za-z\-]{10,}|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+",
        "secrets.slack_token",
        ("slack.com",),
        "high",
    ),
    (
        "slackhook",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]+/[A-Z0-9]+/[A-Za-z0-9]{16,}",
        "secrets.slack_token",
        ("slack.com",),
        "high",
    ),
    (
        "awskey",
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
        "secrets.aws_key",
        ("amazonaws.com", "aws.amazon.com", "amazonaws.com.cn"),
        "high",
    ),
    (
        "sendgrid",
        r"SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}",
        "secrets.api_token",
        ("sendgrid.com", "sendgrid.net"),
        "high",
    ),
    ("npm", r"npm_[A-Za-z0-9]{36}", "secrets.api_token", ("npmjs.org", "npmjs.com"), "high"),
    ("pypi", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}", "secrets.api_token", ("pypi.org",), "high"),
    ("hf", r"hf_[A-Za-z]{34}", "secrets.api_token", ("huggingface.co", "hf.co"), "high"),
    ("google", r"AIza[0-9A-Za-z_\-]{35}", "secrets.api_token", ("googleapis.com", "google.com"), "medium"),
    ("digitalocean", r"do[por]_v1_[a-f0-9]{64}", "secrets.api_token", ("digitalocean.com",), "high"),
    ("shopify", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}", "secrets.api_token", ("myshopify.com", "shopify.com"), "high"),
    ("square", r"sq0(?:atp|csp)-[0-9A-Za-z_\-]{22,43}", "secrets.api_token", ("squareup.com",), "high"),
    ("databricks", r"dapi[a-f0-9]{32}(?:-\d)?", "secrets.api_token", ("databricks.com", "azuredatabricks.net"), "high"),
    ("telegram", r"\d{8,10}:AA[0-9A-Za-z_\-]{33}", "secrets.api_token", ("telegram.org",), "high"),
    ("jwt", r"eyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]*", "secrets.jwt", (), "high"),
)
_TOKEN_RE = re.compile(_B + "(?:" + "|".join(f"(?P<{n}>{rx})" for n, rx, *_ in _TOKEN_SPECS) + ")" + _E)
# Literal substrings each token type must contain: a substring test is far cheaper than
# a regex scan, so large texts only run the alternatives that can match.
_MARKERS: dict[str, tuple[str, ...]] = {
    "anthropic": ("sk-ant-",),
    "openai": ("sk-",),
    "stripe": ("k_live_", "k_test_", "whsec_"),
    "github": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab": ("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-", "glft-", "glsoat-", "glagent-"),
    "slack": ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xapp-"),
    "slackhook": ("hooks.slack.com",),
    "awskey": ("AKIA", "ASIA", "ABIA", "ACCA", "A3T"),
    "sendgrid": ("SG.",),
    "npm": ("npm_",),
    "pypi": ("pypi-",),
    "hf": ("hf_",),
    "google": ("AIza",),
    "jwt": ("eyJ",),
    "digitalocean": ("_v1_",),
    "shopify": ("shpat_", "shpss_", "shpca_", "shppa_"),
    "square": ("sq0atp-", "sq0csp-"),
    "databricks": ("dapi",),
    "telegram": (":AA",),
}


def _trie_pattern(words: list[str]) -> str:
    """A regex matching exactly *words*, the longest one wherever several start at a position.

    The words are merged into a prefix tree (``sk-(?:ant-)?``), so a scan tries one branch
    per character instead of every word: 2-4x faster than the flat alternation, with the
    same matches (at each position the flat alternation sorted longest first also takes
    the longest word that matches).

    >>> _trie_pattern(["sk_", "sk_ant_", "ghp_"])
    '(?:ghp_|sk_(?:ant_)?)'
    """
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        alts = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and "" not in node else "(?:" + "|".join(alts) + ")"
        return body + "?" if "" in node else body  # greedy: the longer word first

    return emit(trie)


# One pass finds which providers' markers occur (the longest at each position, so "sk-ant-" is
# Anthropic's). findall, then a set: every repetition of a marker costs C time, not a Python step.
_MARKER_OWNER = {k: n for n, marks in _MARKERS.items() for k in marks}
_MARKER_RE = re.compile(_trie_pattern(list(_MARKER_OWNER)))
# The reference scan: the flat alternation, longest marker first.
_MARKER_FLAT_RE = re.compile("|".join(re.escape(k) for k in sorted(_MARKER_OWNER, key=len, reverse=True)))
# Most markers hold one of these punctuation characters. A text lacking one cannot hold those
# markers, so the scan leaves them out (a single-character search is a memchr): the same
# matches, and most prose scans only the few markers without punctuation.
_GATES = "_-.:"


@functools.lru_cache(maxsize=32)
def _marker_re(gates: str) -> re.Pattern[str]:
    """`_MARKER_RE` without the markers holding a character of `_GATES` that is not in *gates*."""
    possible = [k for k in _MARKER_OWNER if all(c in gates for c in k if c in _GATES)]
    return re.compile(_trie_pattern(possible)) if possible else re.compile(r"(?!)")


def _markers_present(text: str) -> frozenset[str]:
    """The providers whose markers `_MARKER_RE` finds in *text* (the same set, scanned for less)."""
    if not _fastpath.ENABLED:
        return frozenset(map(_MARKER_OWNER.__getitem__, set(_MARKER_FLAT_RE.findall(text))))
    found = _marker_re("".join(c for c in _GATES if c in text)).findall(text)
    return frozenset(map(_MARKER_OWNER.__getitem__, set(found)))


@functools.lru_cache(maxsize=256)
def _token_re(names: frozenset[str]) -> re.Pattern[str]:
    alts = "|".join(f"(?P<{n}>{rx})" for n, rx, *_ in _TOKEN_SPECS if n in names)
    return re.compile(_B + "(?:" + alts + ")" + _E)


_TOKEN_INFO = {n: (rule, prov, conf) for n, _, rule, prov, conf in _TOKEN_SPECS}
_KEEP = {
    "anthropic": 7,
    "openai": 3,
    "stripe": 8,
    "github": 4,
    "gitlab": 6,
    "slack": 5,
    "slackhook": 23,
    "awskey": 4,
    "sendgrid": 3,
    "npm": 4,
    "pypi": 5,
    "hf": 3,
    "google": 4,
    "jwt": 0,
    "digitalocean": 7,
    "shopify": 6,
    "square": 7,
    "databricks": 4,
    "telegram": 0,
}

_AWS_SECRET_RE = re.compile(
    r"(?i)(?:aws[_\s-]?secret[_\s-]?access[_\s-]?key|secret[_\s-]?access[_\s-]?key|aws[_\s-]?secret(?:[_\s-]?key)?)[\"']?\s*[:=]\s*[\"']?"
    r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
# Header, then the body (base64 lines, optional RFC 1421 headers), then the END line if present.
_PEM_RE = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 ENCRYPTED )?PRIVATE KEY(?: BLOCK)?)-----"
    r"((?:\s|\\[nr]|Proc-Type:[^\n]*|DEK-Info:[^\n]*|Comment:[^\n]*|[A-Za-z0-9+/=])*)(?:-----END \1-----)?"
)
_AWS_KEY_NAME = re.compile(r"(?i)secret_?access_?key|aws_?secret")
_AWS_SECRET_VALUE = re.compile(r"[A-Za-z0-9/+]{40}")
_PUTTY_RE = re.compile(r"PuTTY-User-Key-File-\d: [\s\S]*?Private-Lines: \d+\s+[A-Za-z0-9+/=\s]{40,}")
_URL_CRED_RE = re.compile(
    r"\b([a-z][a-z0-9+.\-]{1,30})://([^\s:/@'\"<>]{0,128}):([^\s@/'\"<>]{1,256})@([^\s/'\"?#<>]+)", re.I
)
_AZURE_KEY_RE = re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{40,}={0,2})")
# A credential pasted with its header (curl -H "Authorization: Bearer ..."): whatever its format.
_AUTH_HEADER_RE = re.compile(
    r"(?i)\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+([A-Za-z0-9._~+/\-]{20,}=*)"
)
_DSN_PW_RE = re.compile(r"(?i)(?:^|[;\s\"'])(?:password|pwd)\s*=\s*([^;\"'\s]{3,})")
_DSN_SERVER_RE = re.compile(r"(?i)(?:^|[;\s\"'])(?:server|data source|host|hostname|address|addr)\s*=")
_PW_ASSIGN_RE = re.compile(
    r"(?i)(?<![A-Za-z0-9_])[\"']?((?:db_|admin_|root_|user_|app_)?(?:password|passwd|client_secret|secret_key|api_secret))[\"']?\s*[:=]\s*[\"']?([^\s\"',;}{]{8,128})"
)
_CARD_RE = re.compile(r"(?<![\d.\-])\d(?:[ \-]?\d){12,18}(?![\d\-]|\.\d)")
_CARD_RUN = re.compile(r"\d[\d \-]{11,}\d")
_CARD_CONTEXT = re.compile(
    r"(?i)\b(?:card|cards|credit|debit|visa|master\s?card|mastercard|amex|american express|discover|jcb|"
    r"diners|unionpay|cc|ccn|pan|cvv|cvc|cvv2|expiry|expiration|exp|billing|payment)\b"
)
_PLACEHOLDER_PW = re.compile(
    r"(?i)^(?:\$\{?[\w.\-]+\}?|\{\{?[^}]*\}?\}|<[^>]*>|%\(?\w*\)?s?|\*+|x+|\.+|-+|_+|\?+|"
    r"(?:your|my|the|some|example|sample|dummy|fake|test)[_\-]?(?:password|pass|pw|secret|key|token)?\w*|"
    r"password|passwd|pass|pwd|secret|changeme|redacted|hidden|none|null|undefined|env|os\.environ.*|getenv.*)$"
)
_EXAMPLE_MARKERS = (
    "example", "xxxxxxxx", "placeholder", "dummy", "redacted", "sample", "your_", "your-", "yourkey", "fake",
    "-here", "_here", "changeme",
)  # fmt: skip
_EXAMPLE_RE = re.compile("|".join(map(re.escape, _EXAMPLE_MARKERS)))
_KNOWN_EXAMPLES = frozenset(
    {
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "sk_test_4eC39HqLyjWDarjtT1zdp7dc",
        "sk_test_BQokikJOvBiI2HlWgH4olfQ2",
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    }
)
# Processors' published test numbers (Stripe, Braintree, Adyen, PayPal docs): not cardholder data.
_TEST_CARDS = frozenset(
    {
        "4242424242424242",
        "4000056655665556",
        "4111111111111111",
        "4012888888881881",
        "4222222222222",
        "5555555555554444",
        "5200828282828210",
        "5105105105105100",
        "2223003122003222",
        "378282246310005",
        "371449635398431",
        "378734493671000",
        "6011111111111117",
        "6011000990139424",
        "6011000400000000",
        "3056930009020004",
        "36227206271667",
        "30569309025904",
        "38520000023237",
        "3566002020360505",
        "3530111333300000",
        "6200000000000005",
        "4000000000000002",
        "4000000000009995",
        "4000002500003155",
        "4000000000000077",
        "4000000000000341",
        "5454545454545454",
        "4444333322221111",
        "4917610000000000",
    }
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_brand(d: str) -> bool:
    """Does *d* start with an issuer prefix whose length rules it fits?"""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    two, four = int(d[:2]), int(d[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if d.startswith(("6011", "65", "62")) or 644 <= int(d[:3]) <= 649:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if 300 <= int(d[:3]) <= 305 or two in (36, 38, 39):
        return 14 <= n <= 19
    return False


def _grouped(raw: str) -> bool:
    groups = [len(g) for g in re.split(r"[ \-]", raw)]
    return len(groups) >= 3 and (all(g == 4 for g in groups[:-1]) or groups == [4, 6, 5] or groups == [4, 6, 4])


def _b64json(part: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


def _jwt_claims(token: str) -> dict[str, Any] | None:
    """The payload of a decodable JWT (header with ``alg``/``typ``), else None."""
    head, _, rest = token.partition(".")
    header = _b64json(head)
    if not isinstance(header, dict) or not ("alg" in header or "typ" in header):
        return None
    payload = _b64json(rest.partition(".")[0])
    return payload if isinstance(payload, dict) else None


def _jwt_expired(claims: dict[str, Any]) -> bool:
    exp = claims.get("exp")
    note_side_input()  # the clock: a token expires between two identical calls
    return isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp < time.time()


def _jwt_issuer_host(claims: dict[str, Any]) -> tuple[str, ...]:
    """The issuer's host (``iss``): a token sent back to the service that issued it is its normal use."""
    iss = claims.get("iss")
    if not isinstance(iss, str) or "." not in iss:
        return ()
    host = iss.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0].lower()
    return (host,) if host else ()


def _looks_example(value: str) -> bool:
    if value in _KNOWN_EXAMPLES:
        return True
    if _EXAMPLE_RE.search(value.lower()):
        return True
    body = value[-24:]
    return len(set(body)) <= 4  # ghp_xxxxxxxx..., sk-live-000000...


def _openai_ok(tok: str) -> bool:
    if "T3BlbkFJ" in tok or tok.startswith(("sk-proj-", "sk-svcacct-", "sk-admin-")):
        return True
    body = tok[3:]
    # A bare "sk-" token must look random: mixed case and digits (not "sk-learn-contrib-...").
    return any(c.isdigit() for c in body) and any(c.isupper() for c in body) and any(c.islower() for c in body)


def find_secrets(text: str) -> list[SecretMatch]:
    """Every secret in *text*, in order, without overlaps (see module docstring).

    >>> [(m.rule_id, m.example) for m in find_secrets("AKIAIOSFODNN7EXAMPLE / card 4242 4242 4242 4242")]
    [('secrets.aws_key', True), ('secrets.card_number', True)]
    """
    if len(text) < 12:
        return []
    # A JWT's verdict reads the clock (has it expired?): such text is judged afresh, not cached.
    if len(text) <= 4096 and "eyJ" not in text:
        return list(_find_cached(text))
    return _find(text[:_MAX_SCAN])


@functools.lru_cache(maxsize=2048)
def _find_cached(text: str) -> tuple[SecretMatch, ...]:
    return tuple(_find(text))


def _find(text: str) -> list[SecretMatch]:
    out: list[SecretMatch] = []
    present = _markers_present(text)
    for m in _token_re(present).finditer(text) if present else ():
        name = m.lastgroup or ""
        tok = m.group()
        rule, prov, conf = _TOKEN_INFO[name]
        example = _looks_example(tok)
        if name == "openai" and not _openai_ok(tok):
            continue
        if name == "jwt":
            claims = _jwt_claims(tok)
            if claims is None:
                continue
            example = example or _jwt_expired(claims)
            prov = _jwt_issuer_host(claims)
        out.append(SecretMatch(rule, rule.split(".", 1)[1], m.start(), m.end(), _KEEP[name], example, prov, conf))
    if "PRIVATE KEY" in text:
        for m in _PEM_RE.finditer(text):
            # JSON-embedded keys (service-account files) escape their newlines as \n.
            body = re.sub(r"\s|\\[nr]|Proc-Type:.*|DEK-Info:.*|Comment:.*", "", m.group(2))
            if len(body) >= 40:
                out.append(
                    SecretMatch("secrets.private_key", "private_key", m.start(), m.end(), 0, _looks_example(body))
                )
    if "PuTTY-User-Key-File" in text:
        out.extend(
            SecretMatch("secrets.private_key", "private_key", m.start(), m.end(), 0) for m in _PUTTY_RE.finditer(text)
        )
    if "://" in text and "@" in text:
        for m in _URL_CRED_RE.finditer(text):
            pw = m.group(3)
            if _PLACEHOLDER_PW.match(pw) or (_looks_example(pw) and len(set(pw)) <= 4):
                continue
            # The server the credential belongs to: sending it there is logging in, not leaking.
            own = m.group(4).rsplit(":", 1)[0].strip("[]").rstrip(".").lower()
            out.append(SecretMatch("secrets.connection_string", "password", m.start(3), m.end(3), 0, providers=(own,)))
    low = text.lower()
    # The server key before the list: without it no password match counts, and "password="
    # repeated a megabyte long is a candidate per repetition.
    if ("password" in low or "pwd" in low) and "=" in text and _DSN_PW_RE.search(text) and _DSN_SERVER_RE.search(text):
        dsn = [m for m in _DSN_PW_RE.finditer(text) if not _PLACEHOLDER_PW.match(m.group(1))]
        out.extend(SecretMatch("secrets.connection_string", "password", m.start(1), m.end(1), 0) for m in dsn)
    if any(k in low for k in ("passw", "secret", "api_secret")):
        pos = 0
        # A repeated assignment repeats its value: judge each distinct value once.
        rejected: dict[str, bool] = {}
        while (pm := _PW_ASSIGN_RE.search(text, pos)) is not None:
            val = pm.group(2)
            no = rejected.get(val)
            if no is None:
                no = rejected[val] = bool(_PLACEHOLDER_PW.match(val) or _looks_example(val) or not _random_looking(val))
            if no:
                pos = pm.start(2)  # "password: db_password = '...'": the value may be the next key
                continue
            out.append(SecretMatch("secrets.password", "password", pm.start(2), pm.end(2), 0, confidence="medium"))
            pos = pm.end()
    if "accountkey=" in low or "sharedaccesskey=" in low:
        out.extend(
            SecretMatch("secrets.connection_string", "password", m.start(1), m.end(1), 0)
            for m in _AZURE_KEY_RE.finditer(text)
        )
    if "authorization" in low:
        for m in _AUTH_HEADER_RE.finditer(text):
            if not _looks_example(m.group(1)) and _random_looking(m.group(1)):
                out.append(SecretMatch("secrets.api_token", "api_token", m.start(1), m.end(1), 0, confidence="medium"))
    if "secret" in low and ("access" in low or "aws" in low):
        for m in _AWS_SECRET_RE.finditer(text):
            val = m.group(1)
            out.append(
                SecretMatch(
                    "secrets.aws_key",
                    "aws_secret",
                    m.start(1),
                    m.end(1),
                    0,
                    _looks_example(val),
                    ("amazonaws.com", "aws.amazon.com"),
                )
            )
    if _card_run(text):
        out.extend(_cards(text))
    if "auth" in low or "password" in low or "token" in low or text.count(":") >= 4:
        files = [
            SecretMatch("secrets.credential_file", "credential_file", a, b, 0, _looks_example(text[a:b]), hosts)
            for a, b, _what, hosts in credential_file_secrets(text)
        ]
        # On the same span a token format wins (it names its issuer), then the file's grammar, then
        # the "password = ..." heuristic: _dedupe keeps the first of equal spans.
        out = (
            [m for m in out if m.rule_id != "secrets.password"]
            + files
            + [m for m in out if m.rule_id == "secrets.password"]
        )
    return _dedupe(out)


def _random_looking(v: str) -> bool:
    # map() keeps the per-character tests in C (a generator per class was the hot spot of
    # adversarial megabyte inputs, called once per candidate value).
    classes = sum(
        (
            any(map(str.islower, v)),
            any(map(str.isupper, v)),
            any(map(str.isdigit, v)),
            not all(map(str.isalnum, v)),
        )
    )
    return classes >= 3 or (classes >= 2 and len(v) >= 16)


# _CARD_RUN needs 13 characters in a row of digits, blanks and dashes.
_card_class_run = has_run("0123456789 -", 13)


def _card_run(text: str) -> bool:
    """Does *text* hold a digit run that can be a card number (`_CARD_RUN`)?"""
    return (not _fastpath.ENABLED or _card_class_run(text)) and _CARD_RUN.search(text) is not None


def _cards(text: str) -> list[SecretMatch]:
    out = []
    for run in _CARD_RUN.finditer(text):  # cheap pre-scan: only digit runs can hold a card
        out.extend(_cards_in(text, run.start(), run.end() + 2))  # +2: let the lookahead see ".5"
    return out


def _cards_in(text: str, start: int, end: int) -> list[SecretMatch]:
    out = []
    for m in _CARD_RE.finditer(text, start, end):
        raw = m.group()
        digits = raw.replace(" ", "").replace("-", "")
        if not 13 <= len(digits) <= 19 or not _card_brand(digits) or not _luhn(digits):
            continue
        window = text[max(0, m.start() - 48) : m.end() + 48]
        if not (_grouped(raw) or _CARD_CONTEXT.search(window)):
            continue
        out.append(SecretMatch("secrets.card_number", "card_number", m.start(), m.end(), 0, digits in _TEST_CARDS))
    return out


def _dedupe(ms: list[SecretMatch]) -> list[SecretMatch]:
    ms.sort(key=lambda x: (x.start, -x.end))
    out: list[SecretMatch] = []
    for m in ms:
        if out and m.start < out[-1].end:
            continue  # the earlier, longer match wins (a PEM body, a webhook URL with its token)
        out.append(m)
    return out


# ------------------------------------------------------------------------- redaction

_SENSITIVE_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "apikey",
        "authorization",
        "cookie",
        "setcookie",
        "credentials",
        "credential",
        "privatekey",
        "accesskey",
        "secretkey",
        "clientsecret",
        "sessiontoken",
        "refreshtoken",
        "accesstoken",
        "idtoken",
        "bearer",
        "xapikey",
        "proxyauthorization",
        "passphrase",
    }
)
_SENSITIVE_SUFFIXES = ("password", "passwd", "secret", "token", "apikey", "privatekey", "secretkey", "passphrase")


def _sensitive_key(key: object) -> bool:
    if not isinstance(key, str):
        return False
    k = re.sub(r"[^a-z0-9]", "", key.lower())
    return k in _SENSITIVE_KEYS or k.endswith(_SENSITIVE_SUFFIXES)


def _mask_one(text: str, m: SecretMatch) -> str:
    secret = text[m.start : m.end]
    if m.rule_id == "secrets.private_key":
        head = secret.split("-----", 3)
        label = head[1] if len(head) > 2 else "BEGIN PRIVATE KEY"
        return f"-----{label}-----[REDACTED:private_key]-----{label.replace('BEGIN', 'END', 1)}-----"
    if m.rule_id == "secrets.card_number":
        return f"[REDACTED:card_number ****{re.sub(r'[^0-9]', '', secret)[-4:]}]"
    return f"{secret[: m.keep]}[REDACTED:{m.label}]"


def _mask_text(text: str) -> tuple[str, bool]:
    ms = find_secrets(text)
    if not ms:
        return text, False
    parts: list[str] = []
    pos = 0
    for m in ms:
        parts.append(text[pos : m.start])
        parts.append(_mask_one(text, m))
        pos = m.end
    parts.append(text[pos:])
    return "".join(parts), True


_REDACTED = "[REDACTED]"


def redact(value: Any) -> tuple[Any, bool]:
    """A deep copy of *value* with every secret masked, and whether anything was.

    Strings are scanned with `find_secrets` (examples too: the audit trail keeps
    no credential-shaped text); values under sensitive keys (``password``,
    ``api_key``, ``Authorization``, ``*_token`` ...) are masked whole. Dicts, lists,
    tuples and sets are rebuilt; bytes are scanned as UTF-8; other objects are
    returned as they are (serialize them first to have them scanned).

    >>> redact({"db": "postgres://app:s3cr3t-Pw@db:5432/x", "password": "hunter2"})
    ({'db': 'postgres://app:[REDACTED:password]@db:5432/x', 'password': '[REDACTED]'}, True)
    """
    return _redact(value, 0)


def _redact(value: Any, depth: int) -> tuple[Any, bool]:
    if isinstance(value, str):
        return _mask_text(value)
    if depth > 32:
        return value, False
    if isinstance(value, Mapping):
        changed = False
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if _sensitive_key(k) and isinstance(v, (str, bytes)) and v:
                out[k] = _REDACTED
                changed = True
                continue
            nv, c = _redact(v, depth + 1)
            out[k] = nv
            changed |= c
        return out, changed
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_redact(v, depth + 1) for v in value]
        changed = any(c for _, c in items)
        vals = [v for v, _ in items]
        if isinstance(value, list):
            return vals, changed
        if isinstance(value, tuple):
            return (type(value)(*vals) if hasattr(value, "_fields") else tuple(vals)), changed
        return type(value)(vals), changed
    if isinstance(value, (bytes, bytearray)):
        try:
            text = bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(value), False
        masked, c = _mask_text(text)
        return (masked.encode("utf-8") if c else bytes(value)), c
    return value, False


# ------------------------------------------------------------------------- the analyzer

_SECRET_STORE = re.compile(
    r"(?i)(?:^|/)(?:\.env(?:\.(?!example|sample|template|dist|defaults?)[\w.\-]+)?|[^/]*\.(?:pem|key|p12|pfx|jks|keystore|kdbx)|"
    r"id_(?:rsa|dsa|ecdsa|ed25519)(?:\.\w+)?|credentials(?:\.\w+)?|\.netrc|_netrc|\.npmrc|\.pypirc|\.pgpass|"
    r"\.git-credentials|\.dockercfg|\.docker/config\.json|\.kube/config|\.m2/settings\.xml|secrets?(?:\.[\w.\-]+)?|[^/]*\.secrets?|kubeconfig|\.htpasswd)$"
)
# Tools that are secret managers by name (store_secret, vault_write, put_parameter ...).
_SECRET_TOOL = re.compile(r"(?i)secret|vault|keychain|keyring|credential|kms|ssm|parameter_store|1password|bitwarden")
_NET_WORDS = (
    "curl", "wget", "nc", "ncat", "netcat", "socat", "ssh", "scp", "sftp", "ftp", "telnet", "http",
    "invoke-webrequest", "iwr", "urllib", "fetch",
)  # fmt: skip


def _reaches_network(text: str) -> bool:
    """Does a command text name a URL or a network client (``curl``, ``ssh``, ``requests.``)?

    Substring scans (C speed) and a boundary check per hit, where one case-insensitive
    regex alternation costs ~0.7 s on a megabyte.
    """
    low = text.lower()
    if "://" in low or "requests." in low:
        return True
    n = len(low)
    for w in _NET_WORDS:
        i = low.find(w)
        while i >= 0:
            j = i + len(w)
            if (i == 0 or not (low[i - 1].isalnum() or low[i - 1] == "_")) and (
                j >= n or not (low[j].isalnum() or low[j] == "_")
            ):
                return True
            i = low.find(w, j)
    return False


_HEADER_ARGS = ("header", "authorization", "auth", "token", "api_key", "apikey", "cookie", "bearer", "credential")
_PAYMENT_HOSTS = ("stripe.com", "braintreegateway.com", "adyen.com", "paypal.com", "checkout.com", "squareup.com")
# Rules an auth header may carry to any host (OpenAI-compatible gateways, OAuth/JWT APIs, basic auth).
_ANY_HOST_AUTH = frozenset({"secrets.jwt", "secrets.openai_key", "secrets.password", "secrets.api_token"})


def _destination(ctx: Context) -> str | None:
    cls = ctx.classification
    kind, op = cls.kind, cls.operation
    if kind == "http":
        return "network"
    if kind in ("email", "message") or op == "send":
        return "send"
    if kind in ("shell", "code") or op == "execute":
        return "shell"
    if op == "transfer" or kind == "payment":
        return "payment"
    # Tool names the operation vocabulary reads as "write" (create_gist) or not at all (git_commit).
    publish, store = _name_destinations(ctx.call.tool_name)
    if publish:
        return "send"
    if op == "write" or (kind == "file" and op in ("write", None)) or (op is None and store):
        return "write"
    return None


@functools.lru_cache(maxsize=4096)
def _name_destinations(tool_name: str) -> tuple[bool, bool]:
    """(publishes, stores) by the words of a tool's name, worked out once per tool."""
    words = set(tokens(tool_name))
    return bool(words & _PUBLISH_WORDS), bool(words & _STORE_WORDS)


_PUBLISH_WORDS = frozenset({"gist", "paste", "pastebin", "tweet", "toot", "blog"})
_STORE_WORDS = frozenset({"commit", "push", "pr", "log", "record", "note", "memo", "wiki", "doc", "docs"})


# The lookbehind starts a scheme only at the beginning of its run: without it every
# letter of a long "a-a-a-..." run starts a scan to the end (quadratic).
_CMD_URL = re.compile(r"(?<![a-z0-9+.\-])[a-z][a-z0-9+.\-]*://[^\s'\"<>|;]+", re.I)


def _url_host(url: str) -> str:
    from agentgate.analyzers.http import parse_url

    return parse_url(url).host


def _under_any(host: str, suffixes: tuple[str, ...]) -> bool:
    return any(host == s or host.endswith("." + s) for s in suffixes)


def _hosts(ctx: Context) -> list[str]:
    from .http import parse_host, parse_url

    hosts = [parse_url(t.value).host for t in ctx.targets("http") if t.source != "sniff"]
    hosts.extend(parse_host(r.value).host for r in ctx.resources("host"))
    return [h for h in hosts if h]


def _provider_match(m: SecretMatch, hosts: list[str]) -> bool:
    if not m.providers or not hosts:
        return False
    if m.rule_id in ("secrets.github_token", "secrets.gitlab_token"):
        label = m.rule_id.split(".")[1].split("_")[0]  # github / gitlab
        return all(_under_any(h, m.providers) or label in h.split(".") for h in hosts)
    return all(_under_any(h, m.providers) for h in hosts)


_NAMES = {
    "private_key": "a private key",
    "aws_key": "an AWS access key",
    "aws_secret": "an AWS secret key",
    "github_token": "a GitHub token",
    "gitlab_token": "a GitLab token",
    "slack_token": "a Slack token",
    "stripe_key": "a Stripe secret key",
    "openai_key": "an OpenAI API key",
    "anthropic_key": "an Anthropic API key",
    "api_token": "an API token",
    "jwt": "a JSON Web Token",
    "password": "a password",
    "card_number": "a card number",
    "credential_file": "a credential in a credential-file format",
}
_EFFECTS: dict[str, tuple[Severity, Effect]] = {
    "block": (Severity.CRITICAL, Effect.BLOCK),
    "escalate": (Severity.HIGH, Effect.ESCALATE),
}


def _decide(m: SecretMatch, dest: str, argument: str, hosts: list[str], store: bool) -> str | None:
    """block / escalate / None for one live secret at one destination."""
    if dest == "payment":
        return None if m.rule_id == "secrets.card_number" else "block"
    if dest == "write":
        return None if store else "escalate"
    if dest == "shell":
        if m.rule_id == "secrets.connection_string" or _provider_match(m, hosts):
            return None  # a credential used on its own server (psql URL, git clone from GitLab)
        return "block"
    if dest == "network":
        if _provider_match(m, hosts):
            return None
        if m.rule_id == "secrets.card_number" and hosts and all(_under_any(h, _PAYMENT_HOSTS) for h in hosts):
            return None
        # An auth argument of the tool or a header, not a body field that happens to be named api_key
        # ({"payload": {"openai_api_key": ...}} posted to a webhook is the key leaving).
        root = argument.lower().split(".", 1)[0].split("[", 1)[0]
        if any(w in root for w in _HEADER_ARGS) and m.rule_id in _ANY_HOST_AUTH:
            return None
        if m.rule_id == "secrets.jwt":
            return "escalate"
    return "escalate" if m.confidence == "medium" else "block"


# Words saying a key is no longer valid ("AKIA... was deactivated and deleted").
_REVOKED = re.compile(r"(?i)\b(?:revok|deactivat|disabl|delet|rotat|inactiv|invalidat|expir)\w*")


def _revoked_key_id(m: SecretMatch, found: list[SecretMatch], text: str) -> bool:
    """An AWS access key *id* alone, reported as revoked: an identifier (it appears in CloudTrail
    and IAM listings), not a usable credential. A secret key beside it keeps the finding."""
    return (
        m.label == "aws_key" and not any(o.label == "aws_secret" for o in found) and _REVOKED.search(text) is not None
    )


def analyze_secrets(call: ToolCall, ctx: Context) -> list[Finding]:
    """The secrets analyzer (see module docstring for rules and destinations)."""
    dest = _destination(ctx)
    if dest is None:
        return []
    strings = call.string_arguments()
    if dest == "shell" and not any(_reaches_network(v) for _, v in strings):
        return []
    if dest == "network":
        hosts = _hosts(ctx)
    elif dest == "shell":
        hosts = [h for _, v in strings for u in _CMD_URL.findall(v) if (h := _url_host(u))]
    else:
        hosts = []
    store = dest == "write" and (
        _SECRET_TOOL.search(call.tool_name) is not None
        or any(_SECRET_STORE.search(r.value.strip()) for r in ctx.resources("path"))
    )
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    for argument, text in strings:
        leaf = argument.rsplit(".", 1)[-1]
        if _AWS_KEY_NAME.search(leaf) and _AWS_SECRET_VALUE.fullmatch(text.strip()):
            text = f"{leaf}={text.strip()}"  # the name says what the 40 characters are
        scanned: set[str] = set()
        for _, chunk in windows(text, ctx):  # long texts in overlapping windows, budget checked between
            if chunk in scanned and _fastpath.ENABLED:
                # A window repeating an earlier one (a periodic text) yields the same matches and
                # verdicts: every finding it could add is already in.
                continue
            if len(chunk) < len(text):
                scanned.add(chunk)
            found = find_secrets(chunk)
            for m in found:
                if m.example or (m.rule_id, argument) in seen or _revoked_key_id(m, found, chunk):
                    continue
                verdict = _decide(m, dest, argument, hosts, store)
                if verdict is None:
                    continue
                seen.add((m.rule_id, argument))
                findings.append(_finding(m, verdict, dest, argument, _mask_one(chunk, m)))
            for encoding, m in _encoded(chunk):
                if (m.rule_id, argument) in seen:
                    continue
                verdict = _decide(m, dest, argument, hosts, store)
                if verdict is None:
                    continue
                seen.add((m.rule_id, argument))
                masked = f"[REDACTED:{m.label} ({encoding})]"
                findings.append(_finding(m, verdict, dest, argument, masked, encoding))
    if dest in ("network", "shell") and hosts:
        findings.extend(_references(strings, hosts, dest))
    if dest == "network" and hosts:
        findings.extend(_basic(ctx, strings, hosts, seen))
    elif dest == "shell" and hosts:
        findings.extend(_basic_shell(strings, hosts))
    return findings


# curl -u user:password / --user=user:password (wget's --user/--password pair is rarer and split).
_CURL_USER = re.compile(r"(?:^|\s)(?:-u|--user)(?:\s+|=)[\"']?([^\s:\"'$]{1,128}):([^\s\"']{1,256})")
_WEB_CRED = re.compile(r"\bhttps?://([^\s:/@'\"<>]{1,128}):([^\s@/'\"<>]{1,256})@", re.I)


def _basic_shell(strings: tuple[tuple[str, str], ...], hosts: list[str]) -> list[Finding]:
    """``curl -u user:password URL`` and ``curl https://user:password@host/...``: the same rule as
    an HTTP tool's Basic credentials (see "Basic credentials" in the module docstring)."""
    out: list[Finding] = []
    for argument, text in strings:
        if "-u" not in text and "--user" not in text and "@" not in text:
            continue
        pairs = [(m.group(1), m.group(2)) for m in _CURL_USER.finditer(text[:65_536])]
        pairs += [(m.group(1), m.group(2)) for m in _WEB_CRED.finditer(text[:65_536])]
        for user, password in pairs:
            if _PLACEHOLDER_PW.match(password) or "$" in password or (user, password) in (("user", "pass"),):
                continue
            issuer = BASIC_USER_ISSUERS.get(user.lower())
            if issuer is not None:
                if all(_under_any(h, issuer) for h in hosts):
                    continue
                out.append(
                    Finding(
                        "secrets.basic_auth",
                        Severity.CRITICAL,
                        Effect.BLOCK,
                        f"the command in {argument!r} sends a credential issued by {issuer[0]} (user {user!r}) to "
                        f"{hosts[0]}, which is not its issuer: a credential leak",
                        f"user={user} password=[REDACTED]",
                        argument,
                    )
                )
                return out
            urls = _CMD_URL.findall(text[:65_536])
            if urls and all(_login_shaped(u) for u in urls):
                continue
            out.append(
                Finding(
                    "secrets.basic_auth",
                    Severity.HIGH,
                    Effect.ESCALATE,
                    f"the command in {argument!r} sends a password (user {user!r}) to {hosts[0]}, and nothing in it "
                    "says the credential belongs to that host (not a login or API endpoint of it): a possible leak",
                    f"user={user} password=[REDACTED]",
                    argument,
                )
            )
            return out
    return out


# First path segments of the endpoints services log in through or serve their API at: a Basic
# credential sent there is being used, not delivered (see the module docstring for what this
# shape does not prove).
_LOGIN_SEGMENTS = frozenset(
    {
        "v1", "v2", "v3", "v4", "api", "apis", "_apis", "rest", "graphql", "login", "logon", "signin", "sign-in",
        "auth", "authenticate", "oauth", "oauth2", "token", "tokens", "session", "sessions", "sso", "saml", "user",
        "users", "me", "whoami", "service", "repository", "repositories", "artifactory", "nexus", "simple", "pypi",
        "-", "job", "jenkins", "registry", "webdav", "dav", "remote.php", "wp-json", "xmlrpc.php", "ws",
    }
)  # fmt: skip


def _login_shaped(url: str) -> bool:
    """Is *url* an authentication or API endpoint of its host (a login, not a delivery)?"""
    from urllib.parse import urlsplit

    try:
        path = urlsplit(url.strip()).path if "://" in url else url
    except ValueError:
        return False  # a URL no parser reads is not a login (the HTTP analyzer judges it)
    segs = [p for p in path.lower().split("/") if p]
    if not segs:
        return False
    return (
        segs[0] in _LOGIN_SEGMENTS
        or segs[-1] in ("info", "git-upload-pack", "git-receive-pack")
        or any(p.endswith(".git") for p in segs)
        or "info/refs" in path
    )


def _basic(
    ctx: Context, strings: tuple[tuple[str, str], ...], hosts: list[str], seen: set[tuple[str, str]]
) -> list[Finding]:
    """Basic credentials (header or URL userinfo) sent to a host (module docstring, "Basic credentials")."""
    urls = [t.value for t in ctx.targets("http") if t.source != "sniff"]
    found: list[tuple[str, str, str]] = []  # (argument, user, how)
    for argument, text in strings:
        if text[:6].lower() == "basic " and (pair := basic_credentials(text)) is not None:
            found.append((argument, pair[0], "an Authorization: Basic header"))
    for t in ctx.targets("http"):
        if t.source != "sniff" and "@" in t.value:
            m = _URL_CRED_RE.match(t.value.strip())  # the fetched URL's own user:password, not one in its query
            if m and not _PLACEHOLDER_PW.match(m.group(3)) and m.group(2).lower() not in ("user", "username"):
                found.append((t.argument, m.group(2), "a user:password@ URL"))
    out: list[Finding] = []
    for argument, user, how in found:
        if any(r in ("secrets.basic_auth", "secrets.api_token") and a == argument for r, a in seen):
            continue
        issuer = BASIC_USER_ISSUERS.get(user.lower())
        if issuer is not None:
            if all(_under_any(h, issuer) for h in hosts):
                continue
            out.append(
                Finding(
                    "secrets.basic_auth",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    f"{how} in {argument!r} carries a credential issued by {issuer[0]} (user {user!r}) to "
                    f"{hosts[0]}, which is not its issuer: a credential leak",
                    f"Basic [REDACTED] user={user}",
                    argument,
                )
            )
            continue
        if urls and all(_login_shaped(u) for u in urls):
            continue
        out.append(
            Finding(
                "secrets.basic_auth",
                Severity.HIGH,
                Effect.ESCALATE,
                f"{how} in {argument!r} sends a password (user {user!r}) to {hosts[0]}, and nothing in the call "
                "says the credential belongs to that host (not a login or API endpoint of it): a possible leak",
                f"Basic [REDACTED] user={user}",
                argument,
            )
        )
    return out


def _encoded(text: str) -> list[tuple[str, SecretMatch]]:
    """Live secrets inside encoded views of *text* (base64, hex, URL-encoding, reversed, split)."""
    out: list[tuple[str, SecretMatch]] = []
    if len(text) < 12:
        return out  # no view is longer than the text, and find_secrets reads nothing shorter
    for encoding, start, end, view in decoded_views(text):
        for m in find_secrets(view):
            if m.example:
                continue
            out.append((encoding, SecretMatch(m.rule_id, m.label, start, end, 0, False, m.providers, m.confidence)))
    return out


# A credential named by reference (``$GITHUB_TOKEN``, ``${AWS_SECRET_ACCESS_KEY}``,
# ``os.environ["OPENAI_API_KEY"]``, ``process.env.SLACK_TOKEN``): the shell or the program
# resolves it before sending, so where it goes matters as much as for the value itself.
_REFERENCE = re.compile(
    r"(?:\$\{?|%|\$env:|environ(?:\.get)?\(?\[?[\"']|getenv\([\"']|process\.env\.)"
    r"([A-Z][A-Z0-9_]{2,63})"
)
_CREDENTIAL_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIAL|_PAT\b|AUTH")
# Variable-name prefix -> the hosts that issue (and accept) that credential.
_ISSUERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GITHUB", ("github.com", "githubusercontent.com", "ghe.com")),
    ("GH_", ("github.com", "githubusercontent.com", "ghe.com")),
    ("GITLAB", ("gitlab.com",)),
    ("AWS", ("amazonaws.com", "aws.amazon.com")),
    ("OPENAI", ("openai.com", "openai.azure.com")),
    ("ANTHROPIC", ("anthropic.com",)),
    ("SLACK", ("slack.com",)),
    ("STRIPE", ("stripe.com",)),
    ("NPM", ("npmjs.org", "npmjs.com")),
    ("HF_", ("huggingface.co", "hf.co")),
    ("HUGGINGFACE", ("huggingface.co", "hf.co")),
    ("PYPI", ("pypi.org",)),
    ("TWILIO", ("twilio.com",)),
    ("SENDGRID", ("sendgrid.com", "sendgrid.net")),
    ("DIGITALOCEAN", ("digitalocean.com",)),
    ("CLOUDFLARE", ("cloudflare.com",)),
    ("AZURE", ("azure.com", "windows.net", "microsoft.com")),
    ("GOOGLE", ("googleapis.com", "google.com")),
    ("GCP", ("googleapis.com", "google.com")),
)


def _issuer(name: str) -> tuple[str, ...] | None:
    return next((hosts for prefix, hosts in _ISSUERS if name.startswith(prefix)), None)


def _references(strings: tuple[tuple[str, str], ...], hosts: list[str], dest: str) -> list[Finding]:
    out: list[Finding] = []
    for argument, text in strings:
        if "$" not in text and "env" not in text and "%" not in text:
            continue
        for m in _REFERENCE.finditer(text[:65_536]):
            name = m.group(1)
            issuer = _issuer(name)
            if issuer is None or not _CREDENTIAL_NAME.search(name):
                continue  # an unknown issuer: nothing says where it belongs
            strangers = [h for h in hosts if not _under_any(h, issuer)]
            if not strangers:
                continue  # $GITHUB_TOKEN to api.github.com is its normal use
            out.append(
                Finding(
                    "secrets.credential_reference",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    f"{name} (a credential issued by {issuer[0]}) in {argument!r} would be resolved and sent to "
                    f"{strangers[0]}, which is not its issuer: a credential leak",
                    m.group(0) + name if not m.group(0).endswith(name) else m.group(0),
                    argument,
                )
            )
            return out
    return out


def _finding(m: SecretMatch, verdict: str, dest: str, argument: str, masked: str, encoding: str = "") -> Finding:
    sev, eff = _EFFECTS[verdict]
    where = {
        "send": "sent in a message",
        "network": "sent over the network",
        "write": "written to storage",
        "shell": "passed to a command that reaches the network",
        "payment": "sent with a payment",
    }[dest]
    return Finding(
        m.rule_id,
        sev,
        eff,
        f"{_NAMES.get(m.label, m.label)}{f' ({encoding})' if encoding else ''} in {argument!r} would be {where}: "
        "a credential leak; "
        "remove it or pass a reference to the secret store instead",
        masked,
        argument,
    )
