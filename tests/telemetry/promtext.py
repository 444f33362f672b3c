"""A strict parser of the Prometheus text exposition format 0.0.4, for the tests.

Fails (AssertionError) on anything a scraper could misread: a malformed line, a bad
escape, a duplicate HELP/TYPE or sample, a TYPE after its samples, samples of one family
not kept together, a histogram whose buckets are not cumulative or whose ``+Inf`` bucket
is not its ``_count``, a missing final newline.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_HELP = re.compile(rf"# HELP ({_NAME}) (.*)")
_TYPE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)")
_SAMPLE = re.compile(rf"({_NAME})(\{{.*\}})? (\S+)( -?\d+)?")
_PAIR = re.compile(rf'({_LABEL})="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')
_VALUE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Inf)|NaN")


@dataclass
class Family:
    """One metric family: its type and samples keyed by (suffix, sorted labels)."""

    name: str
    type: str = "untyped"
    help: str | None = None
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = field(default_factory=dict)

    def value(self, suffix: str = "", **labels: str) -> float:
        return self.samples[(suffix, tuple(sorted(labels.items())))]


def _unescape(v: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], v)


def _labels(text: str | None) -> tuple[tuple[str, str], ...]:
    if not text:
        return ()
    body = text[1:-1]
    pairs: list[tuple[str, str]] = []
    pos = 0
    while pos < len(body):
        m = _PAIR.match(body, pos)
        assert m, f"bad label set {text!r} at {pos}"
        pairs.append((m.group(1), _unescape(m.group(2))))
        pos = m.end()
        if pos < len(body):
            assert body[pos] == ",", f"bad label separator in {text!r}"
            pos += 1
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), f"duplicate label in {text!r}"
    return tuple(sorted(pairs))


def _family_of(sample: str, families: dict[str, Family]) -> tuple[Family, str]:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample[: -len(suffix)] if sample.endswith(suffix) else None
        if base and base in families and families[base].type in ("histogram", "summary"):
            return families[base], suffix
    if sample not in families:
        families[sample] = Family(sample)
    return families[sample], ""


def parse(text: str) -> dict[str, Family]:
    """The families of *text*, checked strictly (see the module docstring)."""
    assert text.endswith("\n"), "the exposition must end with a newline"
    families: dict[str, Family] = {}
    closed: set[str] = set()
    current: str | None = None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if not line:
            continue
        if line.startswith("#"):
            m = _HELP.fullmatch(line)
            if m:
                fam = families.setdefault(m.group(1), Family(m.group(1)))
                assert fam.help is None, f"line {n}: second HELP for {fam.name}"
                assert not fam.samples, f"line {n}: HELP after samples of {fam.name}"
                fam.help = m.group(2)
                continue
            m = _TYPE.fullmatch(line)
            if m:
                fam = families.setdefault(m.group(1), Family(m.group(1)))
                assert fam.type == "untyped" and not fam.samples, f"line {n}: TYPE repeated or after samples"
                fam.type = m.group(2)
                continue
            assert not line.startswith(("# HELP", "# TYPE")), f"line {n}: malformed {line!r}"
            continue
        m = _SAMPLE.fullmatch(line)
        assert m, f"line {n}: malformed sample {line!r}"
        assert _VALUE.fullmatch(m.group(3)), f"line {n}: bad value {m.group(3)!r}"
        fam, suffix = _family_of(m.group(1), families)
        if fam.name != current:
            assert fam.name not in closed, f"line {n}: samples of {fam.name} are not together"
            if current is not None:
                closed.add(current)
            current = fam.name
        key = (suffix, _labels(m.group(2)))
        assert key not in fam.samples, f"line {n}: duplicate sample {line!r}"
        v = m.group(3)
        fam.samples[key] = float("inf") if v == "+Inf" else float(v)
    for fam in families.values():
        if fam.type == "histogram":
            _check_histogram(fam)
    return families


def _check_histogram(fam: Family) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    for (suffix, labels), v in fam.samples.items():
        if suffix == "_bucket":
            le = dict(labels)["le"]
            rest = tuple(p for p in labels if p[0] != "le")
            series.setdefault(rest, []).append((math.inf if le == "+Inf" else float(le), v))
    for rest, buckets in series.items():
        buckets.sort()
        counts = [c for _, c in buckets]
        assert counts == sorted(counts), f"{fam.name}{rest}: buckets are not cumulative"
        assert buckets[-1][0] == math.inf, f"{fam.name}{rest}: no +Inf bucket"
        assert fam.samples[("_count", rest)] == buckets[-1][1], f"{fam.name}{rest}: +Inf bucket != _count"
        assert ("_sum", rest) in fam.samples, f"{fam.name}{rest}: no _sum"
