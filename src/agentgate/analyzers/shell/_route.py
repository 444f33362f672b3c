"""Operands the shell analyzer hands to the analyzer that owns them.

A shell command is often a carrier: ``psql -c 'DROP TABLE users'`` is SQL, ``curl
http://169.254.169.254/`` is an HTTP request. The walk records such operands on the
analysis state as ``(kind, value)`` pairs (kind ``sql:<dialect>``, ``url`` or ``host``);
`agentgate.analyzers.shell.analyze_shell` runs the SQL and HTTP analyzers on them with
the call's policy and settings (scope, DNS), so every rule of those analyzers applies.
Key-value and document stores without a SQL analyzer (Redis, MongoDB) are judged here
by the effect of the command (``shell.database``).
"""

from __future__ import annotations

import ipaddress
import re

from agentgate._decision import Severity
from agentgate.analyzers.shell._rules import _BLOCK, _ESC, _emit, _path, _State, _words

# ---------------------------------------------------------------- database clients

#: client → (sqlglot dialect, options whose value is SQL, options that take any other value)
_SQL_CLIENTS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "psql": (
        "postgres",
        _words("-c --command"),
        _words(
            "-h --host -p --port -U --username -d --dbname -f --file -o --output -v --set --variable -L -T -F -R -P"
        ),
    ),
    "mysql": (
        "mysql",
        _words("-e --execute"),
        _words("-h --host -P --port -u --user -D --database -S --socket --default-character-set --init-command"),
    ),
    "mariadb": (
        "mysql",
        _words("-e --execute"),
        _words("-h --host -P --port -u --user -D --database -S --socket --default-character-set --init-command"),
    ),
    "clickhouse-client": (
        "clickhouse",
        _words("-q --query"),
        _words("-h --host --port -u --user --password -d --database --format -f"),
    ),
    "sqlcmd": ("tsql", _words("-Q -q"), _words("-S -U -P -d -i -o -s -W -h")),
    "cqlsh": ("", _words("-e --execute"), _words("-u -p -k --keyspace -f --file")),
    "snowsql": ("snowflake", _words("-q --query"), _words("-a -u -d -s -w -r -f -c")),
    "duckdb": ("duckdb", _words("-c -s"), _words("-cmd -separator -nullvalue -newline")),
    "sqlite3": ("sqlite", _words("-cmd"), _words("-separator -nullvalue -newline -init -vfs -lookaside -pagecache")),
}
#: clients whose first operand is a database file and the remaining operands are SQL
_DB_FILE_FIRST = _words("sqlite3 duckdb")
#: clients whose SQL comes from an operand after a subcommand (``bq query 'SQL'``)
_SUBCOMMAND_SQL = {"bq": ("bigquery", "query")}


#: every program `route_database` reads (a set test first: most commands are not database clients)
DB_CLIENTS = frozenset({*_SQL_CLIENTS, *_SUBCOMMAND_SQL, "clickhouse", "redis-cli", "mongosh", "mongo"})


def _value_opts(args: list[str], takes: frozenset[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Split *args* into option values (``-c X``, ``-cX``, ``--command=X``) and operands."""
    vals: dict[str, list[str]] = {}
    ops: list[str] = []
    k = 0
    while k < len(args):
        a = args[k]
        if a == "--":
            ops.extend(args[k + 1 :])
            break
        if a.startswith("--") and "=" in a:
            key, _, v = a.partition("=")
            vals.setdefault(key, []).append(v)
        elif a in takes:
            if k + 1 < len(args):
                vals.setdefault(a, []).append(args[k + 1])
            k += 1
        elif a.startswith("-") and len(a) > 2 and a[:2] in takes and not a.startswith("--"):
            vals.setdefault(a[:2], []).append(a[2:])  # glued: -cSQL, -e'SQL'
        elif not a.startswith("-") or a == "-":
            ops.append(a)
        k += 1
    return vals, ops


def route_database(base: str, args: list[str], st: _State, stdin: str | None, shown: str) -> bool:
    """SQL handed to a database client goes to the SQL analyzer; Redis and Mongo are judged here.

    Returns whether *base* is a database client (its operands are not file paths).
    """
    if base == "clickhouse" and args[:1] == ["client"]:
        base, args = "clickhouse-client", args[1:]
    if base in _SUBCOMMAND_SQL:
        dialect, sub = _SUBCOMMAND_SQL[base]
        if sub in args:
            rest = args[args.index(sub) + 1 :]
            sql = [a for a in rest if not a.startswith("-")]
            if sql:
                _sql(st, dialect, sql[-1])
        return True
    spec = _SQL_CLIENTS.get(base)
    if spec is not None:
        dialect, sql_opts, other = spec
        vals, ops = _value_opts(args, sql_opts | other)
        found = False
        for o in sql_opts:
            for v in vals.get(o, ()):
                found = True
                _sql(st, dialect, v)
        if base in _DB_FILE_FIRST:
            for v in ops[1:]:
                found = True
                if v.startswith("."):
                    _dot_command(v, st, base)
                else:
                    _sql(st, dialect, v)
        files = vals.get("-f", []) + vals.get("--file", []) + vals.get("-i", [])
        for f in files:
            if f in ("-", "/dev/stdin"):
                continue
            found = True
            staged = st.staged.get(_path(f, st).resolved)
            if staged is not None and staged[0] is not None:
                _sql(st, dialect, staged[0])  # a SQL file written earlier in this command
            elif staged is not None:
                _emit(st, "shell.remote_code", _ESC, f"{base} runs {f}, {staged[1]}", f, Severity.HIGH)
        if stdin is not None and not found:
            _sql(st, dialect, stdin)
        return True
    if base == "redis-cli":
        _redis(args, st, shown, stdin)
        return True
    if base in ("mongosh", "mongo"):
        vals, _ops = _value_opts(args, _words("--eval --host --port -u --username -p --password --file -f"))
        for code in vals.get("--eval", []) + ([stdin] if stdin else []):
            _mongo(code, st, shown)
        return True
    return False


def _sql(st: _State, dialect: str, text: str) -> None:
    if text.strip() and not st.strong:
        st.routed.append((f"sql:{dialect}", text))


def _dot_command(v: str, st: _State, base: str) -> None:
    """sqlite3 dot-commands: ``.shell``/``.system`` run a shell command, ``.load`` loads native code."""
    from agentgate.analyzers.shell._walk import _parse_into  # the walk imports this module

    word, _, rest = v.partition(" ")
    if word in (".shell", ".system"):
        _emit(st, "shell.remote_code", _ESC, f"{base} {word} runs a shell command", v, Severity.HIGH)
        _parse_into(rest, st, f"{base} {word}")
    elif word == ".load":
        _emit(st, "shell.remote_code", _BLOCK, f"{base} .load loads a native extension into the process", v)


_REDIS_DESTROY = _words("flushall flushdb")
_REDIS_CONFIG_WRITE = _words("dir dbfilename logfile")
_REDIS_ESCALATE = _words("shutdown debug slaveof replicaof module eval evalsha fcall function migrate script acl")
_REDIS_TAKES = _words("-h -p -a -n -u -s --user --pass --tls --cacert --cert --key -i -r -d --eval")


def _redis(args: list[str], st: _State, shown: str, stdin: str | None) -> None:
    _vals, ops = _value_opts(args, _REDIS_TAKES)
    lines = [ops] if ops else []
    if stdin:
        lines.extend(line.split() for line in stdin.splitlines() if line.strip())
    for words in lines:
        verb = words[0].lower()
        sub = words[1].lower() if len(words) > 1 else ""
        if verb in _REDIS_DESTROY:
            _emit(st, "shell.database", _BLOCK, f"redis {verb.upper()} deletes every key", shown)
        elif verb == "config" and sub == "set" and len(words) > 2 and words[2].lower() in _REDIS_CONFIG_WRITE:
            _emit(
                st,
                "shell.database",
                _BLOCK,
                f"redis CONFIG SET {words[2]} points the server's file writes elsewhere (a known RCE path)",
                shown,
            )
        elif verb == "config" and sub == "set":
            _emit(st, "shell.database", _ESC, "redis CONFIG SET changes the server configuration", shown, Severity.HIGH)
        elif verb in _REDIS_ESCALATE:
            _emit(
                st, "shell.database", _ESC, f"redis {verb.upper()} runs server-side code or changes the server", shown
            )


# A document store's destructive and code-running methods, by name (the shell is a JavaScript REPL).
_MONGO_DESTROY = re.compile(r"\.\s*(?:dropDatabase|drop|dropUser|dropAllUsers|dropRole|dropIndexes)\s*\(")
_MONGO_MASS = re.compile(r"\.\s*(?:deleteMany|remove|updateMany)\s*\(\s*\{\s*\}")
_MONGO_ADMIN = re.compile(
    r"\.\s*(?:adminCommand|runCommand|createUser|grantRolesToUser|updateUser|shutdownServer|eval)\s*\(|\$where|\$function"
)


def _mongo(code: str, st: _State, shown: str) -> None:
    if _MONGO_DESTROY.search(code):
        _emit(st, "shell.database", _BLOCK, "the Mongo shell drops a database, collection, user or index", code)
    elif _MONGO_MASS.search(code):
        _emit(st, "shell.database", _BLOCK, "the Mongo shell deletes or rewrites every document ({} filter)", code)
    elif _MONGO_ADMIN.search(code):
        _emit(st, "shell.database", _ESC, "the Mongo shell runs admin commands or server-side code", code)
    del shown


# ------------------------------------------------------------------ network operands

#: tool → options that take a value (so the value is not mistaken for the destination)
_NET_TAKES: dict[str, frozenset[str]] = {
    "curl": _words(
        "-d --data --data-binary --data-raw --data-urlencode --data-ascii -F --form --form-string -H --header "
        "-o --output -u --user -X --request -A --user-agent -e --referer -b --cookie -c --cookie-jar "
        "-T --upload-file -w --write-out -m --max-time --connect-timeout --retry --retry-delay -r --range "
        "-K --config --cacert --capath --cert --key -E --json -z --time-cond --interface --limit-rate "
        "-Y --speed-limit -y --speed-time --max-filesize -U --proxy-user --oauth2-bearer --unix-socket "
        "--abstract-unix-socket --dns-servers --local-port -C --continue-at -Q --quote --max-redirs "
        "--output-dir --trace --trace-ascii --stderr --variable --expand-url --aws-sigv4 --ciphers -t --telnet-option"
    ),
    "wget": _words(
        "-O --output-document -o --output-file -a --append-output -P --directory-prefix -e --execute "
        "-U --user-agent --header --post-data --post-file --body-data --body-file --method --user --password "
        "-t --tries -T --timeout -w --wait --limit-rate -i --input-file -B --base --load-cookies "
        "--save-cookies -Q --quota --referer --ca-certificate --certificate --private-key"
    ),
    "nc": _words("-p -s -w -i -x -X -e -c -q -W -I -O -T -P -V -M -m"),
    "ssh": _words("-i -p -l -o -F -J -L -R -D -W -b -c -E -e -m -O -Q -S -w -B"),
    "scp": _words("-i -P -l -o -F -J -S -c"),
    "sftp": _words("-i -P -l -o -F -J -S -c -b -B -R -s"),
    "telnet": _words("-l -n -b -e"),
    "ftp": _words("-P -s"),
}
_NET_TAKES["ncat"] = _NET_TAKES["netcat"] = _NET_TAKES["nc"]
_HTTP_CLIENTS = _words("curl wget http https xh httpie aria2c lwp-request")
_HTTPIE = _words("http https xh httpie")
_HOST_FIRST = _words("ssh telnet ftp sftp nc ncat netcat mosh")
_SOCAT_ADDR = re.compile(r"(?i)^(?:tcp[46]?|udp[46]?|openssl|ssl|tcp-connect|udp-connect|sctp-connect)[:-]([^:,]+)")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]{0,20}://")


def _strip_user(h: str) -> str:
    return h.rsplit("@", 1)[-1]


def route_network(base: str, args: list[str], st: _State) -> None:
    """URLs and hosts a network command connects to, for the HTTP analyzer (DNS, addresses, scope)."""
    if st.strong or st.remote:
        return
    takes = _NET_TAKES.get(base, frozenset())
    k = 0
    operands: list[str] = []
    while k < len(args):
        a = args[k]
        if base == "curl" and a in ("--url",) and k + 1 < len(args):
            operands.append(args[k + 1])
            k += 2
            continue
        if base == "curl" and a in ("-x", "--proxy", "--preproxy") and k + 1 < len(args):
            _url_or_host(args[k + 1], st)
            k += 2
            continue
        if base == "curl" and a in ("--resolve", "--connect-to") and k + 1 < len(args):
            # host:port:address (or host:port:host2:port2): curl connects to the last address
            addr = args[k + 1].rsplit(":", 2 if a == "--connect-to" else 1)
            target = addr[-2] if a == "--connect-to" and len(addr) >= 2 else addr[-1]
            if target:
                st.routed.append(("host", target.strip("[]")))
            k += 2
            continue
        if base == "ssh" and a == "-J" and k + 1 < len(args):
            for hop in args[k + 1].split(","):
                st.routed.append(("host", _host_port(_strip_user(hop))))
            k += 2
            continue
        if a in takes or (a[:1] == "-" and a[1:2] != "-" and len(a) > 2 and "-" + a[-1] in takes):
            k += 2  # getopt: the last letter of a cluster ("-lvnp 4444") takes the next word
            continue
        if a.startswith("-") and a != "-":
            k += 1
            continue
        operands.append(a)
        k += 1
    if base in _HTTPIE:
        # HTTPie: [METHOD] URL [request items: Header:value, field=value, param==value, @file]
        rest = operands[1:] if operands and operands[0].isupper() and operands[0].isalpha() else operands
        if rest:
            _url_or_host(rest[0], st)
    elif base in _HTTP_CLIENTS:
        n = len(st.routed)
        for u in operands:
            if "://" in u or "." in u or u.startswith(("localhost", "[")):
                _url_or_host(u, st)
        if base == "curl" and not any(
            a in ("--location", "--location-trusted") or (a[:1] == "-" and a[1:2] != "-" and "L" in a) for a in args
        ):
            # curl without -L never follows a redirect: a URL in the query is data sent to the host
            st.routed[n:] = [("url-nofollow", v) if k == "url" else (k, v) for k, v in st.routed[n:]]
    elif base in _HOST_FIRST:
        listens = base in ("nc", "ncat", "netcat") and any(a[:1] == "-" and a[1:2] != "-" and "l" in a for a in args)
        if operands and not listens:
            h = operands[0]
            if h.startswith("ssh://"):
                st.routed.append(("url", h))
            else:
                st.routed.append(("host", _strip_user(h)))
    elif base in ("scp", "rsync"):
        for o in operands:
            if o.startswith("rsync://"):
                st.routed.append(("url", o))
            elif ":" in o and not o.startswith(("/", ".", "~")):
                h = o.split(":", 1)[0]
                if h and "/" not in h:
                    st.routed.append(("host", _strip_user(h).strip("[]")))
    elif base == "socat":
        for o in operands:
            m = _SOCAT_ADDR.match(o)
            if m:
                st.routed.append(("host", m.group(1)))


def _host_port(h: str) -> str:
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _known_prefix(u: str) -> str | None:
    """The part of *u* before an unexpanded ``$var`` when it still names the host, else None.

    ``http://169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` connects to 169.254.170.2
    whatever the variable holds; ``http://api.$DOMAIN/`` names no host we can check.
    """
    prefix = u.split("$", 1)[0]
    rest = prefix.split("://", 1)[-1]
    host = rest.split("/", 1)[0].rsplit("@", 1)[-1].rsplit(":", 1)[0].strip("[]")
    if "/" in rest:
        return prefix
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return prefix


def _url_or_host(u: str, st: _State) -> None:
    if "$" in u:
        known = _known_prefix(u)
        if known is None:
            return
        u = known
    if _SCHEME.match(u):
        st.routed.append(("url", u))
    else:
        st.routed.append(("url", "http://" + u))  # curl and wget assume http:// for a bare host
