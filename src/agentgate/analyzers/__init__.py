"""Tier-1 analyzers. `DEFAULT_ANALYZERS` is the default chain, plain data.

Each analyzer is ``(call, ctx) -> Sequence[Finding]`` (see `base`). The firewall
runs them all and combines deny-overrides: any BLOCK blocks, else any ESCALATE
goes to tier 2, else the call is allowed. The rate limiter is stateful and is
added by the firewall itself (``Firewall(rate_limit=...)``).
"""

from __future__ import annotations

from .arguments import analyze_arguments
from .base import Analyzer, AnalyzerSettings, Context, Resource, Target, make_context
from .code import analyze_code
from .config import analyze_config
from .filesystem import analyze_files
from .http import analyze_http
from .injection import analyze_injection
from .provenance import analyze_provenance
from .scope import analyze_scope
from .secrets import analyze_secrets
from .shell import analyze_shell
from .sql import analyze_sql

__all__ = [
    "DEFAULT_ANALYZERS",
    "Analyzer",
    "AnalyzerSettings",
    "Context",
    "Resource",
    "Target",
    "make_context",
]

DEFAULT_ANALYZERS: tuple[Analyzer, ...] = (
    analyze_scope,
    analyze_sql,
    analyze_files,
    analyze_http,
    analyze_shell,
    analyze_config,
    analyze_code,
    analyze_secrets,
    analyze_injection,
    analyze_arguments,
    analyze_provenance,
)
