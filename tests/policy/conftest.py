"""Helpers for the policy tests: a firewall with a deterministic resolver and no audit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgate import Firewall
from agentgate.analyzers.base import AnalyzerSettings
from agentgate.eval.resolver import eval_resolver


def make_fw(tmp_path: Path | None = None, yaml: str = "", **kw: Any) -> Firewall:
    """A Firewall (optionally from *yaml* written to tmp_path) that resolves hosts like the eval suite."""
    kw.setdefault("audit", None)
    kw.setdefault("settings", AnalyzerSettings(resolver=eval_resolver))
    if yaml and tmp_path is not None:
        p = tmp_path / "agentgate.yaml"
        p.write_text(yaml)
        return Firewall(str(p), **kw)
    return Firewall(**kw)
