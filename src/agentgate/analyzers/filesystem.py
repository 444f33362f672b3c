"""File-system analyzer: decode, resolve, then decide on the resolved path.

Every path a file tool touches (and every path-looking string argument) goes
through `normalize_path`: percent and double-percent decoding (``%2e``,
``%252e``, ``%u002e``), overlong UTF-8 (``%c0%ae``), full-width and look-alike
separators (``．．／``), NUL stripping, ``file://`` URLs, ``~`` and ``$VAR`` expansion, backslashes
read as separators, normalization against the working directory and symlink
resolution with ``os.path.realpath``. Windows drive paths and UNC shares are
normalized to ``c:/windows/...`` and ``//server/share/...`` (case-folded).

Rules (all evaluated on the lexical *and* the resolved form; both must pass):

========================  ========  ================================================================
rule                      effect    why
========================  ========  ================================================================
file.sensitive            block     credentials, keys, shell history, ``/etc/shadow`` & co,
                                    ``/proc/*/environ``: never for an agent, whatever the operation
                                    (writing a ``.env`` is project setup and allowed)
file.persistence          block     a write to a shell rc file, crontab, ``authorized_keys``, a
                                    systemd/launchd unit, a git hook or ``.git/config`` runs code later
file.system               block     a write or delete inside a system directory (``/etc``, ``/usr``,
                                    ``C:/Windows`` ...) or to a raw device
file.destructive_delete   block     deleting ``/``, the home directory, a top-level directory, the
                                    working directory or an ancestor of it, or a ``.git`` database
file.scope                block     the resolved path lies outside the scope's path roots (escalate
                                    for a path only sniffed from an unrelated argument)
file.encoded              block     encoding hid path structure (``%2e%2e%2f``, overlong UTF-8,
                                    full-width dots and slashes, a NUL byte): no honest path needs it
file.traversal            block /   ``..`` climbing past ``/`` (more levels than exist) blocks;
                          escalate  climbing out of the working directory escalates
file.unc                  escalate  a UNC share makes the host authenticate to another machine;
                                    administrative shares (``C$``, ``ADMIN$``) block
file.unknown_write        escalate  a file tool of unknown operation touching a persistence path
========================  ========  ================================================================

Sniffed targets (a path-looking string in an unrelated tool) only produce the
strong findings: ``file.sensitive`` and, under a scope with path roots,
``file.scope`` as an escalation. Unexpanded variables (``$UNSET/x``) are decided
on their literal form. Symlinks are resolved on every call (never cached), so a
link swapped between two calls is seen.

>>> from agentgate._call import ToolCall
>>> from agentgate.analyzers.base import make_context
>>> call = ToolCall("read_file", {"path": "docs/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/shadow"})
>>> sorted({f.rule_id for f in analyze_files(call, make_context(call))})
['file.encoded', 'file.sensitive', 'file.traversal']
>>> call = ToolCall("read_file", {"path": ".env.example"})
>>> analyze_files(call, make_context(call))
[]
>>> normalize_path("C:\\\\Windows\\\\System32\\\\config\\\\SAM").resolved
'c:/windows/system32/config/sam'
"""

from __future__ import annotations

import fnmatch
import functools
import os
import posixpath
import re
import stat
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from agentgate._decision import Effect, Finding, Severity
from agentgate.analyzers import _fastpath
from agentgate.analyzers.base import Context, Target, note_side_input
from agentgate.policy import EffectivePolicy, ScopePolicy, match_resource
from agentgate.policy._resources import split_pattern

__all__ = [
    "NormalizedPath",
    "PathFacts",
    "analyze_files",
    "check_path",
    "home_dir",
    "normalize_path",
    "path_facts",
    "resolve_path",
    "scope_violation",
]

# ----------------------------------------------------------------------------- decoding

_PCT_B = re.compile(rb"%[0-9A-Fa-f]{2}|%u[0-9A-Fa-f]{4}")
_PCT_U = re.compile(rb"%u([0-9A-Fa-f]{4})")
# Overlong UTF-8: a code point encoded with more bytes than needed. Decoders that
# accept them turn %c0%ae into "." after the path was checked.
_OVERLONG_B = re.compile(rb"[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]|\xf0[\x80-\x8f][\x80-\xbf]{2}")
_OVERLONG_S = re.compile("[\xc0\xc1][\x80-\xbf]|\xe0[\x80-\x9f][\x80-\xbf]|\xf0[\x80-\x8f][\x80-\xbf]{2}")
# Look-alikes NFKC leaves alone but a careless consumer maps to separators.
_LOOKALIKE = str.maketrans({"∕": "/", "⁄": "/", "⧸": "/", "∖": "\\", "⧵": "\\", "﹨": "\\", "․": "."})


def _overlong(seq: bytes) -> bytes:
    b0 = seq[0]
    if len(seq) == 2:
        cp = ((b0 & 0x1F) << 6) | (seq[1] & 0x3F)
    elif len(seq) == 3:
        cp = ((b0 & 0x0F) << 12) | ((seq[1] & 0x3F) << 6) | (seq[2] & 0x3F)
    else:
        cp = ((b0 & 0x07) << 18) | ((seq[1] & 0x3F) << 12) | ((seq[2] & 0x3F) << 6) | (seq[3] & 0x3F)
    return chr(cp).encode()


def _decode(raw: str) -> str:
    """Undo the encodings attackers use to hide path structure (see module docstring)."""
    s = raw
    if not s.isascii() and _OVERLONG_S.search(s):
        # Overlong bytes that arrived as Latin-1 code points.
        s = _OVERLONG_S.sub(lambda m: _overlong(m.group().encode("latin-1")).decode(), s)
    if "%" in s:
        b = s.encode("utf-8", "surrogatepass")
        for _ in range(4):  # %25252e... : decode until stable, bounded
            if not _PCT_B.search(b):
                break
            b = _PCT_U.sub(lambda m: chr(int(m.group(1), 16)).encode("utf-8", "surrogatepass"), b)
            b = unquote_to_bytes(b)
        b = _OVERLONG_B.sub(lambda m: _overlong(m.group()), b)
        s = b.decode("utf-8", "replace")
    if not s.isascii():
        s = unicodedata.normalize("NFKC", s.translate(_LOOKALIKE))
    return s


# ------------------------------------------------------------------------ normalization


@dataclass(frozen=True, slots=True)
class NormalizedPath:
    """One raw path, decoded and resolved.

    Attributes:
        raw: The string as given.
        decoded: After percent/overlong/full-width decoding, NULs removed.
        lexical: Absolute and normalized, ``~`` and ``$VARS`` expanded, symlinks
            not followed. Windows paths: ``c:/dir/file``; UNC: ``//host/share/...``.
        resolved: ``lexical`` with symlinks resolved (``os.path.realpath``).
        truncated: The path a C consumer sees when a NUL cut it short, else None.
        encoded: Decoding changed the path's structure (separators, dots, NULs).
        windows: A drive-letter path, a UNC share or a ``\\\\.\\`` device.
        unc: A UNC share (``\\\\host\\share``).
        climbs: How many levels ``..`` climbed above the directory it started from.
        past_root: ``..`` asked for more levels than exist above it.
        unexpanded: A ``$VAR`` or ``%VAR%`` stayed unexpanded (unset).
        glob: Contains glob characters (``* ? [``).
        joined: The absolute path before normalization (``a/link/../b`` kept), which
            is what the kernel walks: symlinks are resolved *before* ``..`` applies.
    """

    raw: str
    decoded: str
    lexical: str
    resolved: str
    truncated: str | None = None
    encoded: bool = False
    windows: bool = False
    unc: bool = False
    climbs: int = 0
    past_root: bool = False
    unexpanded: bool = False
    glob: bool = False
    joined: str = ""

    @property
    def forms(self) -> tuple[str, ...]:
        """Every interpretation to decide on: lexical, resolved, NUL-truncated."""
        out = [self.lexical]
        if self.resolved != self.lexical:
            out.append(self.resolved)
        if self.truncated and self.truncated not in out:
            out.append(self.truncated)
        return tuple(out)


_STRUCT = ("/", "\\", ".", "\x00")
_DOT_PROBE = re.compile(r"(?:^|/)(?:\.{3,}|\.\.;[^/]*)(?:/|$)")
_FILE_URL = re.compile(r"^file:(?://(?:localhost)?)?/*", re.IGNORECASE)
_WIN_VAR = re.compile(r"%[A-Za-z_]\w*%")
_WIN_DRIVE = re.compile(r"^[A-Za-z]:(?:/|$)")


def _climb(segments: Iterable[str]) -> tuple[list[str], int]:
    """Normalize segments; return them and how far ``..`` went above the start."""
    out: list[str] = []
    depth = low = 0
    for seg in segments:
        if seg in ("", "."):
            continue
        if seg == "..":
            depth -= 1
            low = min(low, depth)
            if out and out[-1] != "..":
                out.pop()
            else:
                out.append("..")
        else:
            depth += 1
            out.append(seg)
    return out, -low


@functools.lru_cache(maxsize=8192)
def _lexical(raw: str, cwd: str, home: str) -> NormalizedPath:
    decoded_nul = _decode(raw)
    nul = "\x00" in decoded_nul
    decoded = decoded_nul.replace("\x00", "") if nul else decoded_nul
    encoded = nul or any(raw.count(c) != decoded_nul.count(c) for c in _STRUCT)
    s = decoded.strip().replace("\\", "/") if "\\" in decoded else decoded.strip()
    if s[:5].lower() == "file:":
        # file:///etc/passwd and file://localhost/etc/passwd name the local path.
        s = _FILE_URL.sub("/", s, count=1)
    device = s.startswith("//./")
    if s.startswith("//?/"):  # Win32 long-path prefix: \\?\C:\x is C:\x, \\?\UNC\h\s is \\h\s
        s = "//" + s[8:] if s[4:8].upper() == "UNC/" else s[4:]
    # Only backslashes make a share: "//host/x" written with slashes is a POSIX path.
    unc = s.startswith("//") and not device and decoded.lstrip().startswith("\\\\")
    if s.startswith("~"):
        s = os.path.expanduser(s)  # *home* is part of the cache key only
    if "$" in s:
        s = os.path.expandvars(s)
    unexpanded = "$" in s or ("%" in s and bool(_WIN_VAR.search(s)))
    joined = ""
    glob = any(c in s for c in "*?[")
    windows = unc or device or bool(_WIN_DRIVE.match(s))
    if unc:
        segs, climbs = _climb(s[2:].split("/"))
        lexical = ("//" + "/".join(segs)).casefold()
        past_root = climbs > 0
    elif windows:
        body = s[2:] if _WIN_DRIVE.match(s) else s[4:]
        segs, climbs = _climb(body.split("/"))
        prefix = s[:2].lower() if _WIN_DRIVE.match(s) else "//."
        lexical = (prefix + "/" + "/".join(segs)).casefold()
        past_root = climbs > 0
    else:
        absolute = s.startswith("/")
        base = [] if absolute else [p for p in cwd.split("/") if p]
        segs, climbs = _climb(s.split("/"))
        past_root = climbs > (0 if absolute else len(base))
        joined = posixpath.join("/" if absolute else cwd, s) if s else cwd
        if joined.startswith("//"):
            joined = "/" + joined.lstrip("/")
        lexical = posixpath.normpath(joined)
    truncated = None
    if nul:
        cut = decoded_nul.split("\x00", 1)[0].replace("\\", "/")
        if cut and not windows:
            truncated = posixpath.normpath(posixpath.join(cwd, os.path.expanduser(cut)))
    return NormalizedPath(
        raw, decoded, lexical, lexical, truncated, encoded, windows, unc, climbs, past_root, unexpanded, glob, joined
    )


@functools.lru_cache(maxsize=64)
def _real_cwd(cwd: str) -> str:
    # The working directory's own resolution is reused; what lies under it is walked every time.
    return os.path.realpath(cwd)


def resolve_path(joined: str, cwd: str) -> str:
    """``os.path.realpath(joined)``, walking only the components below *cwd* on each call.

    Like the kernel (and realpath), a symlink is resolved before a following ``..``:
    ``reports/link_to_etc/../../etc/shadow`` is ``/etc/shadow`` when the link points at ``/etc``.
    """
    note_side_input()  # the file system's links: the same path may resolve elsewhere next time
    prefix = cwd.rstrip("/") + "/"
    if not joined.startswith(prefix):
        return os.path.realpath(joined)
    path = _real_cwd(cwd)
    parts = joined[len(prefix) :].split("/")
    for i, part in enumerate(parts):
        if part in ("", "."):
            continue
        if part == "..":
            path = posixpath.dirname(path) or "/"
            continue
        nxt = path.rstrip("/") + "/" + part
        try:
            mode = os.lstat(nxt).st_mode
        except OSError:
            path = nxt  # missing: kept literally, as realpath does
            continue
        if stat.S_ISLNK(mode):
            return os.path.realpath("/".join((nxt, *parts[i + 1 :])))
        path = nxt
    return path


def home_dir() -> str:
    """The user's home directory (``$HOME`` first, as ``~`` expansion does)."""
    note_side_input()
    return os.environ.get("HOME") or os.path.expanduser("~")


def normalize_path(raw: str, *, cwd: str | None = None) -> NormalizedPath:
    """Decode, expand, normalize and resolve *raw* relative to *cwd* (default: the process cwd).

    The pure part (decoding, expansion, normalization) is cached by input string;
    symlink resolution runs on every call.

    >>> p = normalize_path("reports/%252e%252e/%252e%252e/etc/passwd", cwd="/srv/app")
    >>> p.lexical, p.encoded, p.climbs
    ('/srv/etc/passwd', True, 1)
    >>> normalize_path("\\\\\\\\fileserver\\\\C$\\\\secrets.txt").lexical
    '//fileserver/c$/secrets.txt'
    """
    note_side_input()  # the working directory, $HOME and the file system
    base = cwd or os.getcwd()
    np = _lexical(raw, base, home_dir())
    if np.windows or not np.joined:
        return np
    try:
        resolved = resolve_path(np.joined, base)
    except (OSError, ValueError):
        return np
    if resolved == np.lexical:
        return np
    return NormalizedPath(
        np.raw,
        np.decoded,
        np.lexical,
        resolved,
        np.truncated,
        np.encoded,
        np.windows,
        np.unc,
        np.climbs,
        np.past_root,
        np.unexpanded,
        np.glob,
        np.joined,
    )


# ---------------------------------------------------------------------------- path facts


class _Table:
    """Named path patterns; `first` names the one a search of their alternation would match.

    ``re.search`` of ``(?P<a>...)|(?P<b>...)`` tries every alternative at every position (no
    literal prefix to skip by), ~30 us on a typical path; each pattern searched on its own
    skips to its literal start. The alternation matches at the leftmost position any
    alternative matches, taking the first alternative in order there, so the winner is the
    smallest (start, order): the same name, for a third of the cost.
    """

    def __init__(self, entries: dict[str, str]) -> None:
        self.alternation = re.compile("|".join(f"(?P<{name}>{rx})" for name, rx in entries.items()))
        self.each = tuple((name, re.compile(rx)) for name, rx in entries.items())
        if any(rx.groups for _, rx in self.each):
            # The name of a match is its group's: a pattern's own group would change lastgroup.
            raise ValueError("a path pattern holds a capturing group; use (?:...)")

    def first(self, text: str) -> str | None:
        """The name of the pattern ``self.alternation.search(text)`` matches, or None."""
        if not _fastpath.ENABLED:
            m = self.alternation.search(text)
            return m.lastgroup if m else None
        best: tuple[int, str] | None = None
        for name, rx in self.each:
            m = rx.search(text)
            if m is not None and (best is None or m.start() < best[0]):
                best = (m.start(), name)
                if best[0] == 0:
                    break  # nothing starts before 0, and later patterns come after in order
        return best[1] if best else None


# Matched against the lower-cased absolute path (and every other form).
_SENSITIVE = _Table(
    {
        "ssh_private_key": r"/\.ssh/(?:id_[^/]*|identity)$(?<!\.pub)|/id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?$",
        "ssh_host_key": r"^/etc/ssh/ssh_host_[^/]*_key$",
        "aws_credentials": r"/\.aws(?:/|$)",
        "ssh_directory": r"/\.ssh$|/\.kube$",
        "kubeconfig": r"/\.kube/config$|^/etc/kubernetes/[^/]*\.conf$|^/(?:var/)?run/secrets/",
        "dotenv": r"/\.env(?:rc|\.[^/]+)?$(?<!example)(?<!sample)(?<!template)(?<!\.dist)(?<!schema)",
        "netrc": r"/[._]netrc$|/\.pgpass$|/\.my\.cnf$|/\.git-credentials$|/\.pypirc$|/\.docker/config\.json$|/\.vault-token$|/credentials\.tfrc\.json$"
        r"|/\.config/gh/hosts\.yml$|/\.cargo/credentials(?:\.toml)?$|/\.gem/credentials$|/rclone\.conf$|/\.htpasswd$"
        # package-registry credential files: npm/yarn tokens, Maven server passwords, Composer, Terraform Cloud
        r"|/\.npmrc$|/\.yarnrc(?:\.yml)?$|/\.m2/settings(?:-security)?\.xml$|/composer/auth\.json$|/\.terraformrc$",
        "cloud_credentials": r"/\.config/gcloud/|/\.azure/|/\.gnupg(?:/|$)|/\.password-store(?:/|$)|/library/keychains/",
        # A .pem in a CA certificate directory is a public certificate (the trust store), not a key.
        "key_file": r"\.(?:key|p12|pfx|jks|keystore|ppk|keytab|kdbx)$"
        r"|^(?!/etc/ssl/certs/|/etc/pki/tls/certs/|/etc/pki/ca-trust/|/usr/share/ca-certificates/"
        r"|/usr/local/share/ca-certificates/|/etc/ca-certificates/)[^\n]*\.pem$",
        "shell_history": r"/\.(?:bash|zsh|sh|mysql|psql|python|node_repl)_history$|/\.histfile$",
        "system_secret": r"^/etc/(?:g?shadow-?|master\.passwd|passwd|sudoers|security/opasswd)$|^/etc/sudoers\.d/|^/etc/ssl/private/",
        "process_memory": r"^/proc/(?:\d+|self|thread-self)/(?:environ|mem|cmdline|maps|auxv)$|^/proc/(?:kcore|kallsyms)$|^/dev/k?mem$",
        "windows_secret": r"^[a-z]:/windows/(?:system32/config|repair)/(?:sam|system|security)(?:\.[^/]*)?$|/ntds\.dit$|/appdata/roaming/microsoft/(?:credentials|protect)/",
        # Chromium-family stores on Linux (google-chrome), Windows (Google/Chrome/User Data) and macOS
        # (Application Support/Google/Chrome), Edge, Brave, Opera, Vivaldi; Firefox profiles.
        "browser_secret": r"/(?:google-chrome[^/]*|google/chrome[^/]*|chromium|brave[^/]*|bravesoftware/[^/]*|"
        r"microsoft/edge[^/]*|microsoft-edge[^/]*|opera[^/]*|vivaldi|firefox|mozilla)/.*/"
        r"(?:login data|cookies|web data|key4\.db|key3\.db|logins\.json|cookies\.sqlite|signons\.sqlite)$",
    }
)
_PERSISTENCE = _Table(
    {
        "shell_rc": r"/\.(?:bashrc|bash_profile|bash_login|bash_logout|bash_aliases|profile|zshrc|zprofile|zshenv|zlogin|kshrc|cshrc|tcshrc|mkshrc)$|/\.config/fish/config\.fish$|^/etc/(?:profile|bash\.bashrc|bashrc|zshrc|zsh/zshrc|environment)$|^/etc/profile\.d/|/\.pam_environment$",
        "crontab": r"^/etc/(?:crontab|anacrontab)$|^/etc/cron\.[^/]+/|^/var/spool/cron/|^/var/at/",
        "ssh_authorized_keys": r"/\.ssh/(?:authorized_keys2?|rc|environment|config)$|^/etc/ssh/sshd_config",
        "service_unit": r"^/(?:etc|lib|usr/lib)/systemd/|/\.config/systemd/|^/etc/init\.d/|^/etc/rc\.local$|^/etc/init/|/library/launch(?:agents|daemons)/|/\.config/autostart/|/start menu/programs/startup/",
        "git_hook": r"/\.git/hooks/|/\.git/config$|/\.gitconfig$|/\.config/git/config$",
        "loader_hook": r"^/etc/ld\.so\.(?:preload|conf)|/(?:site|user)customize\.py$|/site-packages/[^/]*\.pth$",
    }
)
_SYSTEM = re.compile(
    r"^/(?:etc|usr|bin|sbin|lib|lib32|lib64|libx32|boot|sys|proc|root|srv|snap|system|library|applications|private/etc|private/var/db)(?:/|$)"
    r"|^/var(?:/(?!tmp(?:/|$)|folders(?:/|$))|$)|^/dev/(?!null$|stdout$|stderr$|stdin$|tty$|fd/|shm/)"
    r"|^[a-z]:/(?:windows|program files|program files \(x86\)|programdata)(?:/|$)|^//\./"
)
_TOP_LEVEL = re.compile(r"^/[^/]*$|^[a-z]:/[^/]*$|^//[^/]+/[^/]+/?$")
_GIT_DB = re.compile(r"(?:^|/)\.git(?:/(?:objects|refs|logs)(?:/[^/]*)?)?$")
_ADMIN_SHARE = re.compile(r"^//[^/]+/(?:[a-z]\$|admin\$|ipc\$)(?:/|$)")


@dataclass(frozen=True, slots=True)
class PathFacts:
    """What one absolute path is, independent of the call (cached per string)."""

    sensitive: str | None
    persistence: str | None
    system: bool
    top_level: bool
    git_db: bool


@functools.lru_cache(maxsize=8192)
def path_facts(path: str, home: str) -> PathFacts:
    """Classify an absolute normalized *path*; *home* keeps the user's own files out of ``system``.

    >>> path_facts("/home/ana/.ssh/id_ed25519", "/home/ana").sensitive
    'ssh_private_key'
    >>> path_facts("/home/ana/.bashrc", "/home/ana").persistence, path_facts("/etc/hosts", "/home/ana").system
    ('shell_rc', True)
    """
    low = path.casefold()
    in_home = home not in ("", "/") and (low == home.casefold() or low.startswith(home.casefold().rstrip("/") + "/"))
    return PathFacts(
        sensitive=_SENSITIVE.first(low),
        persistence=_PERSISTENCE.first(low),
        system=bool(_SYSTEM.search(low)) and not in_home,
        top_level=bool(_TOP_LEVEL.match(low)),
        git_db=bool(_GIT_DB.search(low)),
    )


def _user_sensitive(path: str, patterns: Sequence[str]) -> str | None:
    for pat in patterns:
        full = os.path.expanduser(pat)
        if not full.startswith("/"):
            full = "*/" + full  # a relative glob matches at any depth ("secrets/*", "*.sqlite")
        if fnmatch.fnmatchcase(path, full) or ("/" not in pat and fnmatch.fnmatchcase(posixpath.basename(path), pat)):
            return pat
    return None


# ------------------------------------------------------------------------------- scope


def _path_pattern(p: str) -> bool:
    """Whether an untyped scope pattern names paths (``reports``, ``reports/**``, ``~/x``, ``*.csv``)."""
    if not p or "@" in p or "://" in p:
        return False
    if "/" in p or "\\" in p or p.startswith((".", "~")):
        return True
    if any(c in p for c in "*?["):
        # A bare glob is a path pattern only as an extension filter (*.csv), not a host glob.
        return p.startswith("*.") and "." not in p[2:] and not any(c in p[2:] for c in "*?[")
    return True  # a bare name is a root relative to the working directory


def _path_root(p: str) -> str | None:
    """The path a scope pattern names, or None when it names another kind of resource.

    A typed ``path:reports/**`` names ``reports/**``; any other typed pattern (``host:``,
    ``git:``, ``account:`` ...) names no path, whatever characters it holds.
    """
    kind, value = split_pattern(p)
    if kind is not None:
        return value if kind == "path" else None
    return p if _path_pattern(p) else None


def _pattern_matches(pattern: str, path: str) -> bool:
    # "reports/**" also admits the root "reports" itself.
    return match_resource(pattern, path, "path") or (
        pattern.endswith("/**") and match_resource(pattern[:-3], path, "path")
    )


def _layer_allows(layer: ScopePolicy, np: NormalizedPath) -> bool:
    if np.windows:
        # POSIX roots never contain a Windows or UNC path.
        return not layer.allowed_resources
    forms = np.forms
    for pat in layer.denied_resources:
        root = _path_root(pat)
        if root is not None and any(match_resource(root, f, "path") for f in forms):
            return False
    if not layer.allowed_resources:
        return True
    return any(_pattern_matches(r, np.resolved) for r in _roots(layer))


def _roots(layer: ScopePolicy) -> list[str]:
    return [r for r in map(_path_root, layer.allowed_resources) if r is not None]


def scope_violation(np: NormalizedPath, policy: EffectivePolicy) -> str | None:
    """A message when *np* (decided on its resolved form) lies outside the policy's path roots."""
    if not policy.has_resource_rules:
        return None
    for layer in policy.layers:
        if not _layer_allows(layer, np):
            roots = _roots(layer)
            where = f"outside the allowed roots {', '.join(roots)}" if roots else "not allowed by the scope"
            shown = np.resolved if np.resolved == np.raw else f"{np.raw!r} resolves to {np.resolved}"
            return f"{shown} is {where} ({layer.name}); widen the scope or use a path under its roots"
    return None


# ---------------------------------------------------------------------------- analyzer

_WRITE_OPS = frozenset({"write", "configure", "admin", "deploy"})
_READ_OPS = frozenset({"read", "network", "send"})


def _f(rule: str, sev: Severity, eff: Effect, msg: str, evidence: str, arg: str | None) -> Finding:
    return Finding(rule, sev, eff, msg, evidence, arg)


def check_path(
    np: NormalizedPath,
    op: str | None,
    *,
    argument: str | None,
    strong_only: bool,
    policy: EffectivePolicy,
    extra_sensitive: Sequence[str] = (),
) -> list[Finding]:
    """Findings for one normalized path touched with operation *op* (``read``, ``write``, ``delete`` ...).

    *strong_only* (sniffed paths) keeps only ``file.sensitive`` and an escalating
    ``file.scope``. The shell analyzer uses `path_facts` and `scope_violation` directly.
    """
    out: list[Finding] = []
    home = home_dir()
    shown = np.raw if np.raw == np.resolved else f"{np.raw!r} (resolves to {np.resolved})"
    forms = np.forms
    facts = [path_facts(f, home) for f in forms]

    sens = next((x.sensitive for x in facts if x.sensitive), None)
    if sens is None and extra_sensitive:
        sens = next((u for f in forms if (u := _user_sensitive(f, extra_sensitive))), None)
    if sens == "dotenv" and op in _WRITE_OPS:
        sens = None  # writing a .env is project setup; reading one is what leaks
    if sens and not (strong_only and (any(c.isspace() for c in np.raw.strip()) or np.glob)):
        out.append(
            _f(
                "file.sensitive",
                Severity.CRITICAL,
                Effect.BLOCK,
                f"{shown} is protected ({sens.replace('_', ' ')}); agents must not touch credentials or keys",
                np.resolved,
                argument,
            )
        )
    scope_msg = scope_violation(np, policy) if policy.has_resource_rules else None
    if scope_msg:
        out.append(
            _f(
                "file.scope",
                Severity.HIGH,
                Effect.ESCALATE if strong_only else Effect.BLOCK,
                scope_msg,
                np.resolved,
                argument,
            )
        )
    if strong_only:
        return out

    if np.encoded:
        out.append(
            _f(
                "file.encoded",
                Severity.HIGH,
                Effect.BLOCK,
                f"path {np.raw!r} hides its structure with encoding (decodes to {np.decoded!r})",
                np.decoded,
                argument,
            )
        )
    if _DOT_PROBE.search(np.decoded.replace("\\", "/")):
        out.append(
            _f(
                "file.traversal",
                Severity.HIGH,
                Effect.BLOCK,
                f"{np.raw!r} uses '....//' or '..;/' segments, which defeat naive '../' filters",
                np.decoded,
                argument,
            )
        )
    elif np.past_root:
        out.append(
            _f(
                "file.traversal",
                Severity.HIGH,
                Effect.BLOCK,
                f"{np.raw!r} climbs past the filesystem root with '..' (a traversal probe)",
                np.lexical,
                argument,
            )
        )
    elif np.climbs and not np.raw.lstrip().startswith(("/", "~", "\\\\")) and not np.windows:
        out.append(
            _f(
                "file.traversal",
                Severity.MEDIUM,
                Effect.ESCALATE,
                f"{np.raw!r} climbs {np.climbs} level(s) out of the working directory to {np.resolved}",
                np.resolved,
                argument,
            )
        )
    if np.unc:
        admin = bool(_ADMIN_SHARE.match(np.lexical))
        out.append(
            _f(
                "file.unc",
                Severity.HIGH if admin else Severity.MEDIUM,
                Effect.BLOCK if admin else Effect.ESCALATE,
                f"{np.raw!r} is a network share{' (administrative share)' if admin else ''}; opening it sends credentials to that host",
                np.lexical,
                argument,
            )
        )

    writes = op in _WRITE_OPS
    unknown = op is None or (op not in _WRITE_OPS and op not in _READ_OPS and op != "delete")
    pers = next((x.persistence for x in facts if x.persistence), None)
    if pers and (writes or unknown):
        out.append(
            _f(
                "file.persistence" if writes else "file.unknown_write",
                Severity.CRITICAL if writes else Severity.HIGH,
                Effect.BLOCK if writes else Effect.ESCALATE,
                f"writing {shown} ({pers.replace('_', ' ')}) makes code run later; agents must not install persistence",
                np.resolved,
                argument,
            )
        )
    if op == "delete":
        target = np.resolved
        cwd = os.getcwd()
        reason = None
        if any(x.top_level for x in facts) or target in ("/", home) or np.lexical in ("/", home):
            reason = "the filesystem root, a top-level directory or the home directory"
        elif cwd == target or cwd.startswith(target.rstrip("/") + "/"):
            reason = "the working directory or one of its parents"
        elif any(x.git_db for x in facts):
            reason = "a git repository's database"
        elif np.glob and any(
            path_facts(posixpath.dirname(f), home).top_level or posixpath.dirname(f) == home for f in forms
        ):
            reason = "everything under the root or home directory"
        if reason:
            out.append(
                _f(
                    "file.destructive_delete",
                    Severity.CRITICAL,
                    Effect.BLOCK,
                    f"deleting {shown} removes {reason}",
                    target,
                    argument,
                )
            )
    if (writes or op == "delete") and any(x.system for x in facts) and not pers:
        out.append(
            _f(
                "file.system",
                Severity.CRITICAL,
                Effect.BLOCK,
                f"{'deleting' if op == 'delete' else 'writing'} {shown} modifies a system location",
                np.resolved,
                argument,
            )
        )
    return out


def _file_targets(ctx: Context) -> list[Target]:
    seen: set[str] = set()
    out: list[Target] = []
    for t in ctx.targets("file"):
        if t.value not in seen:
            seen.add(t.value)
            out.append(t)
    for r in ctx.resources("path"):  # the same value as a target is decided once
        if r.value not in seen:
            seen.add(r.value)
            out.append(Target(r.argument, r.value, "name"))
    return out


def analyze_files(call: object, ctx: Context) -> list[Finding]:
    """The file-system analyzer: every file target and path resource of the call (see module docstring)."""
    del call
    targets = _file_targets(ctx)
    if not targets:
        return []
    op = ctx.classification.operation
    out: list[Finding] = []
    for t in targets:
        if not t.value or len(t.value) > 4096:
            continue
        np = normalize_path(t.value)
        out.extend(
            check_path(
                np,
                op,
                argument=t.argument,
                strong_only=t.source == "sniff",
                policy=ctx.policy,
                extra_sensitive=ctx.settings.sensitive_paths,
            )
        )
    return out
