"""REST calls read by effect: a method and a path that remove a security control or mint a credential.

A generic API tool (``github_api(method="DELETE", path="/repos/o/r/branches/main/protection")``,
``http_request(method, url, json)``, ``gh api -X DELETE ...``) changes configuration as surely as
a dedicated one. The providers' REST references (GitHub, GitLab, Bitbucket, Azure DevOps, Okta,
Microsoft Graph, Auth0, Google Cloud IAM, Kubernetes) put every security control at a
resource path, and the method says what happens to it:

* **removing a control** (``config.disable_control``, BLOCK): ``DELETE`` of a path that names
  one, that is branch protection and its parts (required reviews, status checks, signatures,
  admin enforcement), rulesets, protected branches/tags/environments, push and approval rules,
  branch policies, audit-log streams, vulnerability alerts, conditional-access policies, an MFA
  factor or enrollment policy; or a ``POST`` to a ``deactivate``/``disable``/``suspend``
  lifecycle action of one;
* **minting a credential** (``config.credential_mint``, ESCALATE): ``POST``/``PUT`` that makes the
  service generate a key, token, secret or password for an identity and hand it back: a service
  account key, a personal, project or impersonation access token, a deploy token, an
  application's or service principal's password or key (``addPassword``, ``addKey``), a rotated
  client secret, a Kubernetes TokenRequest, the AWS ``CreateAccessKey`` action; whoever holds it
  acts as that identity outside every session the firewall sees. Registering a *public* key
  (a deploy key, an SSH key) generates nothing: whose key it is is a provenance question;
* a ``PUT``/``PATCH``/``POST`` body is read as settings of the control its path names
  (``PATCH /identity/conditionalAccess/policies/x {"state": "disabled"}``) by the caller.

Reads (``GET``/``HEAD``/``OPTIONS``) change nothing and are never findings here.

>>> [h[0] for h in rest_findings("DELETE", "/repos/acme/api/branches/main/protection")]
['config.disable_control']
>>> rest_findings("GET", "/repos/acme/api/branches/main/protection")
[]
>>> [h[0] for h in rest_findings("POST", "https://iam.googleapis.com/v1/projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys")]
['config.credential_mint']
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

from agentgate._decision import Effect, Severity

from ._controls import control_of
from ._doc import key_words
from ._iam import RawHit

__all__ = ["body_findings", "path_control", "rest_findings"]

# Path segments (lower-cased, id segments kept) that name a control by themselves or in a pair.
_CONTROL_SEGMENTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/branches/[^/]+/protection(?:/|$)"), "branch protection"),
    (re.compile(r"/(?:rulesets|rules/branches)(?:/|$)"), "a branch ruleset"),
    (re.compile(r"/tags/protection(?:/|$)"), "tag protection"),
    (re.compile(r"/protected_(?:branches|tags|environments)(?:/|$)"), "branch protection"),
    (re.compile(r"/push_rule(?:/|$)"), "push rules"),
    (re.compile(r"/approval_rules(?:/|$)"), "required approvals"),
    (re.compile(r"/branch-restrictions(?:/|$)"), "branch restrictions"),
    (re.compile(r"/_apis/policy/configurations(?:/|$)"), "branch policies"),
    (re.compile(r"/deployment-branch-policies(?:/|$)|/deployment_protection_rules(?:/|$)"), "deployment protection"),
    (re.compile(r"/audit-log/streams(?:/|$)|/audit_events/streaming(?:/|$)|/streaming/destinations"), "audit logging"),
    (re.compile(r"/vulnerability-alerts/?$|/automated-security-fixes/?$"), "vulnerability alerts"),
    (re.compile(r"/private-vulnerability-reporting/?$"), "vulnerability reporting"),
    (re.compile(r"/conditionalaccess/(?:policies|namedlocations)(?:/|$)"), "conditional access"),
    (re.compile(r"/identitysecuritydefaultsenforcementpolicy"), "security defaults"),
    (re.compile(r"/authenticationmethodspolicy(?:/|$)"), "MFA"),
    (re.compile(r"/guardian/(?:factors|policies)(?:/|$)"), "MFA"),
    (re.compile(r"/api/v1/(?:policies|authenticators)/[^/]+(?:/lifecycle/deactivate)?/?$"), ""),
    (re.compile(r"/users/[^/]+/factors/[^/]+/?$"), "MFA"),
)
_OFF_ACTIONS = re.compile(r"/(?:lifecycle/)?(?:deactivate|disable|suspend)/?$")
# A path that creates a credential when POSTed/PUT to (the last segments decide).
_MINT = re.compile(
    r"/serviceaccounts/[^/]+/keys(?::upload)?/?$"
    r"|/(?:personal_access_tokens|impersonation_tokens|access_tokens|deploy_tokens)(?:/[^/]+/rotate)?/?$"
    r"|/(?:applications|serviceprincipals)/[^/]+/(?:addpassword|addkey)/?$"
    r"|/(?:applications|serviceprincipals)\(appid='[^']*'\)/(?:addpassword|addkey)/?$"
    r"|/clients/[^/]+/(?:rotate-secret|credentials)/?$"
    r"|/apps/[^/]+/credentials/(?:secrets|keys)/?$"
    r"|/api/v1/(?:apitokens|api-tokens)/?$"
    r"|/serviceaccounts/[^/]+/token/?$"
    r"|/auth/token/create(?:-orphan)?/?$"
    r"|/hmackeys/?$|^apikeys\.googleapis\.com/v2/projects/[^/]+/locations/[^/]+/keys/?$"
)
_AWS_MINT_ACTIONS = re.compile(
    r"(?:^|[?&])action=(?:createaccesskey|createloginprofile|updateloginprofile|createservicespecificcredential)(?:&|$)"
)


def _normal(path_or_url: str) -> str:
    """The lower-cased path (and query) of a URL or a bare path, percent-decoded once."""
    text = path_or_url.strip()
    if "://" in text:
        parts = urlsplit(text)
        text = parts.netloc.lower() + parts.path + ("?" + parts.query if parts.query else "")
    return unquote(text).lower().replace("//", "/")


def path_control(path_or_url: str) -> str | None:
    """The security control a REST path names (branch protection, conditional access ...), or None."""
    p = _normal(path_or_url)
    for rx, control in _CONTROL_SEGMENTS:
        if rx.search(p):
            return control or "an authentication policy"
    words = tuple(w for seg in p.split("/") for w in key_words(seg) if not w.isdigit())
    return control_of(words[-4:]) if words else None


def rest_findings(method: str, path_or_url: str) -> list[RawHit]:
    """What ``method path`` does to a security control or an identity's credentials."""
    m = method.strip().upper()
    if m in ("GET", "HEAD", "OPTIONS", ""):
        return []
    p = _normal(path_or_url)
    shown = f"{m} {path_or_url.strip()}"[:160]
    if m in ("POST", "PUT") and (_MINT.search(p.split("?", 1)[0]) or _AWS_MINT_ACTIONS.search(p)):
        return [
            (
                "config.credential_mint",
                Severity.HIGH,
                Effect.ESCALATE,
                f"{shown} creates a long-lived credential for an identity: whoever holds it acts as that "
                "identity outside any session",
                shown,
            )
        ]
    control = path_control(path_or_url)
    if control is None:
        return []
    if m == "DELETE" or (m == "POST" and _OFF_ACTIONS.search(p.split("?", 1)[0])):
        return [("config.disable_control", Severity.HIGH, Effect.BLOCK, f"{shown} removes {control}", shown)]
    return []


_HOOK = re.compile(r"/hooks/[^/]+(?:/config)?/?$")


def _secret_cleared(body: Any, depth: int = 0) -> bool:
    if depth > 4:
        return False
    if isinstance(body, dict):
        for k, v in body.items():
            if str(k).lower() == "secret" and (v is None or (isinstance(v, str) and not v.strip())):
                return True
            if isinstance(v, dict) and _secret_cleared(v, depth + 1):
                return True
    return False


def body_findings(method: str, path_or_url: str, body: Any) -> list[RawHit]:
    """What a request body does to the control its path names: a ``PUT`` of an empty list or
    mapping replaces the control's requirements with none (Auth0 ``PUT /guardian/policies []``:
    MFA never; ``PUT .../required_status_checks/contexts []``), and a webhook whose ``secret`` is
    cleared accepts forged deliveries (no signature to verify)."""
    m = method.strip().upper()
    p = _normal(path_or_url).split("?", 1)[0]
    shown = f"{m} {path_or_url.strip()}"[:160]
    if m == "PUT" and body in ([], {}) and (control := path_control(path_or_url)) is not None:
        return [
            ("config.disable_control", Severity.HIGH, Effect.BLOCK, f"{shown} with nothing removes {control}", shown)
        ]
    if m in ("PATCH", "POST", "PUT") and _HOOK.search(p) and _secret_cleared(body):
        return [
            (
                "config.disable_control",
                Severity.HIGH,
                Effect.BLOCK,
                f"{shown} clears the webhook's secret: deliveries are no longer signed, anyone can forge one",
                shown,
            )
        ]
    return []
