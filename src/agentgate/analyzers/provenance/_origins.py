"""Where values came from: the trusted text of the task, and each recorded tool output.

Each recorded output is read once (the result is cached on its history record): the values in it,
whether each sat in a structured field, and whether the output carries instructions addressed to
the agent. The trusted side (the task, the user's messages) is read once per distinct text.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from ..._context import ActionRecord, AgentContext
from ..injection import scan_text
from ._values import MAX_TEXT, extract_text, extract_tree

__all__ = ["OutputFacts", "facts_of", "instructions_in", "trusted_values"]

# Text in a tool output that addresses the reader as an AI and tells it what to do. The output of
# a tool is data for the agent; a sentence that speaks to "the assistant" or claims the authority of
# the user or the system inside it is an instruction that did not come from the user.
_ADDRESSEE = r"(?:ai|assistant|agent|model|llm|chatbot|bot|copilot|gpt|claude|gemini)"
_ADDRESS = re.compile(
    rf"\b(?:to|dear|hey|hi|attention|note for|message for|for the)\s+(?:the\s+|you,?\s+(?:the\s+)?)?(?:ai\s+)?{_ADDRESSEE}\b"
    rf"|\b{_ADDRESSEE}\s*[:,]\s*(?:please|you must|you should|now|first|immediately|do|send|forward|delete|transfer|pay|invite|share)"
    rf"|\byou\s*,?\s*(?:the\s+)?(?:ai|assistant|agent|language model)\b"
)
_AUTHORITY = re.compile(
    r"\b(?:important|urgent|new|updated|additional|hidden|secret)\s+(?:message|instructions?|directive|order)s?\b"
    r"|\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)?(?:previous|prior|above|earlier|original|other)\b"
    r"|\bbefore\s+(?:you\s+)?(?:can\s+|continue|proceed|finish|complete|solve|answer|respond)"
    r"|(?:^|[\s\[<(])(?:system|admin|developer)\s*(?:message|prompt|note|override)?\s*[:\]>]"
    r"|\b(?:do\s+the\s+following|instead\s*,?\s+(?:you\s+(?:must|should)|please))\b"
    r"|</?\s*(?:instructions?|information|system|important)\s*>",
)
_IMPERATIVE = re.compile(
    r"\b(?:please|you must|you should|you need to|make sure|be sure to|remember to|do not tell|don't tell|"
    r"without (?:telling|asking|mentioning)|send|forward|e-?mail|transfer|pay|wire|invite|share|delete|"
    r"remove|grant|add|change|update|post|upload|click|visit|call)\b"
)


def instructions_in(text: str) -> str | None:
    """Why *text* (a tool output) holds instructions addressed to the agent, or None."""
    t = unicodedata.normalize("NFKC", text[:MAX_TEXT]).lower()
    if len(t) < 16:
        return None
    address = _ADDRESS.search(t)
    authority = _AUTHORITY.search(t)
    if (address or authority) and _IMPERATIVE.search(t):
        cue = (address or authority).group().strip()  # type: ignore[union-attr]
        return f"it addresses the agent with an instruction ({cue!r})"
    hits = scan_text(text[:MAX_TEXT])
    if hits:
        return f"it carries an injected instruction ({hits[0][0]})"
    return None


@dataclass(frozen=True, slots=True)
class OutputFacts:
    """What one recorded output holds."""

    values: dict[tuple[str, str], bool]  # (kind, value) -> seen in a structured field
    fields: dict[tuple[str, str], str]  # (kind, value) -> the field it was first seen in
    injected: dict[tuple[str, str], str]  # values named in a text that instructs the agent -> why
    truncated: bool
    # When the index could not read all of the output: its whole text, lower-cased, for a plain
    # substring search (None when even that exceeded RAW_LIMIT: nothing can be said of the output).
    raw: str | None = None


#: Characters of an over-long output kept for substring search.
RAW_LIMIT = 16_000_000


def _texts(value: object, out: list[str], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _texts(v, out, budget)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _texts(v, out, budget)
    elif value is not None and not isinstance(value, (bool, int, float)):
        out.append(str(value))


def facts_of(rec: ActionRecord) -> OutputFacts:
    """The facts of a recorded output, computed once per record."""
    cached = rec.provenance
    if isinstance(cached, OutputFacts):
        return cached
    found, truncated = extract_tree(rec.result)
    values: dict[tuple[str, str], bool] = {}
    fields: dict[tuple[str, str], str] = {}
    for f in found:
        key = (f.kind, f.value)
        values[key] = values.get(key, False) or f.structured
        fields.setdefault(key, f.field)
    # The targets an injected instruction names: the values in the very text that instructs.
    injected: dict[tuple[str, str], str] = {}
    if values:
        texts: list[str] = []
        _texts(rec.result, texts, [2_000])
        for text in texts:
            if len(text) < 16:
                continue
            why = instructions_in(text)
            if why:
                for f in extract_text(text):
                    injected.setdefault((f.kind, f.value), why)
    raw: str | None = None
    if truncated:
        texts = []
        _texts(rec.result, texts, [1_000_000])
        total = sum(map(len, texts))
        raw = "\n".join(texts).lower() if total <= RAW_LIMIT else None
    facts = OutputFacts(values, fields, injected, truncated, raw)
    rec.provenance = facts
    return facts


@functools.lru_cache(maxsize=512)
def _values_of_text(text: str) -> frozenset[tuple[str, str]]:
    return frozenset((f.kind, f.value) for f in extract_text(text, structured=True))


@functools.lru_cache(maxsize=512)
def _words_of_text(text: str) -> frozenset[str]:
    return frozenset(w for w in re.findall(r"[a-z0-9][a-z0-9_.\-/]{2,}", text.lower()[:MAX_TEXT]))


def trusted_values(agent: AgentContext) -> frozenset[tuple[str, str]]:
    """Values the user gave: in the task and the user's messages."""
    out: frozenset[tuple[str, str]] = _values_of_text(agent.task_description) if agent.task_description else frozenset()
    for text in agent.trusted_inputs:
        out = out | _values_of_text(text)
    return out


def trusted_words(agent: AgentContext) -> frozenset[str]:
    """Words of the task and the user's messages (to see which calls the user named)."""
    out: frozenset[str] = _words_of_text(agent.task_description) if agent.task_description else frozenset()
    for text in agent.trusted_inputs:
        out = out | _words_of_text(text)
    return out
