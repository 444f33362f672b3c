"""The abstract values the interpreters compute and the observations they hand to the router.

An abstract value (`V`) is what the analyzer knows about a run-time value: a constant
(``c``), a reference to a module, function or object (``ref``, a dotted canonical name
such as ``os.system`` or ``socket.socket()``), the elements of a literal sequence
(``items``) and taints (``t``): where the value came from (``decoded``, ``remote``,
``env``, ``secret``, ``socket``; ``scrambled`` for text reversed, re-mapped character by
character or rebuilt from character codes) or how its name was reached (``dynname``). A string
constant may hold `HOLE` characters where an unknown value was interpolated
(``f"rm -rf {d}"``): the router replaces them with what each analyzer reads as
"unknown" (a shell variable, a placeholder path segment).

The interpreters never decide; they record `Hit` observations (a command a process
would run, a path and what is done to it, a URL fetched, a host connected to, or a
finding of the code analyzer's own) that the router turns into findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from agentgate._decision import Effect, Severity

__all__ = ["EMPTY", "HOLE", "NOCONST", "UNKNOWN", "Hit", "LimitError", "Limits", "V"]

#: Stands for an unknown part inside a partially known string.
HOLE: Final = "\x00"


class _NoConst:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NOCONST"


NOCONST: Final = _NoConst()
EMPTY: frozenset[str] = frozenset()

#: Taints that follow data through unknown calls (json.dumps(os.environ) is still the environment).
FLOWING: Final = frozenset({"decoded", "scrambled", "remote", "env", "secret", "socket", "file"})


class V:
    """An abstract value (see module docstring)."""

    __slots__ = ("c", "items", "ref", "t")

    def __init__(
        self,
        c: object = NOCONST,
        ref: str | None = None,
        t: frozenset[str] = EMPTY,
        items: tuple[V, ...] | None = None,
    ) -> None:
        self.c = c
        self.ref = ref
        self.t = t
        self.items = items

    @property
    def known(self) -> bool:
        """A constant with no unknown part."""
        c = self.c
        return c is not NOCONST and not (isinstance(c, str) and HOLE in c)

    def text(self) -> str | None:
        """The value as text when it is a (possibly partial) string or bytes constant."""
        c = self.c
        if isinstance(c, str):
            return c
        if isinstance(c, (bytes, bytearray)):
            return bytes(c).decode("utf-8", "replace")
        return None

    def taint(self, *extra: str) -> V:
        """A copy with more taints."""
        return V(self.c, self.ref, self.t.union(extra), self.items)

    def __repr__(self) -> str:
        return f"V(c={self.c!r}, ref={self.ref!r}, t={sorted(self.t)}, items={self.items!r})"


UNKNOWN: Final = V()


@dataclass(frozen=True, slots=True)
class Hit:
    """One observation about the code.

    ``kind`` is ``shell`` (``value`` is a command line a process runs), ``path`` (``op``
    is read/write/delete; ``exact`` when a file function takes it, else it was only a
    path-looking argument), ``url`` (``exact`` when a network function fetches it),
    ``host`` (a socket connects to it), ``sql`` (a statement a database client runs) or ``finding`` (``rule``/``effect``/``severity``/
    ``message`` are the code analyzer's own). ``line`` is 1-based in the analyzed
    source; ``obfuscated`` marks a value that came out of a decoder.
    """

    kind: str
    value: str
    line: int
    op: str = ""
    exact: bool = True
    rule: str = ""
    effect: Effect = Effect.INFO
    severity: Severity = Severity.INFO
    message: str = ""
    obfuscated: bool = False


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one analysis; crossing any of them escalates (``code.limit``)."""

    max_source: int = 16 * 1024  # parsing is not interruptible: this bounds its cost (~15 ms on a quiet core)
    # Parsing costs per token, and dense code has ~8 tokens per 16 bytes: the delimiters
    # counted here bound it (ordinary code has 1000-3000 in 16 KiB).
    max_delimiters: int = 4000
    max_depth: int = 4  # nested exec/eval/decoded programs
    max_steps: int = 60_000  # evaluation steps, including unrolled loops and comprehensions
    max_string: int = 64 * 1024
    max_decodes: int = 32
    budget_s: float = 0.020  # CPU seconds of the analysing thread


class LimitError(Exception):
    """Raised inside an interpreter when a `Limits` bound is crossed."""
