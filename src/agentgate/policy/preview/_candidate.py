"""The candidate firewall: a policy decided at tier 1 only, with nothing shared with live ones."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..._errors import ConfigError
from .._config import Config, load_config

if TYPE_CHECKING:
    from ..._firewall import Firewall

__all__ = ["candidate_firewall", "load_candidate"]


def load_candidate(policy: Config | str | os.PathLike[str]) -> Config:
    """A policy given as a `Config`, a path, a store URL (its head) or ``<store URL>#<revision>``."""
    if isinstance(policy, Config):
        return policy
    text = os.fspath(policy)
    from ..store import is_store_url, open_policy_store

    ref, _, rev = text.partition("#")
    if is_store_url(ref) or (rev and not os.path.exists(text)):
        with open_policy_store(ref) as store:
            return store.get(rev or None).config()
    return load_config(text)


def candidate_firewall(
    policy: Config | str | os.PathLike[str], *, settings: Any = None, rate_limits: bool = True
) -> Firewall:
    """A firewall for *policy* that decides but records, enforces and calls out nothing.

    Counters (rate limits, history rules) are in-process memory of its own; *rate_limits*
    False drops the rate limiter (replay: recorded calls are not replayed in real time).
    """
    from ..._firewall import Firewall

    cfg = load_candidate(policy)
    data = cfg.model_dump(mode="python", exclude={"source"}, by_alias=True)
    if data.get("rate_limit"):
        data["rate_limit"] = {**data["rate_limit"], "backend": "memory"}
    data["history_backend"] = "memory"
    data["plans"] = None
    data["judge"] = None
    data["audit"] = None
    data["shadow"] = None
    try:
        local = Config.model_validate(data)
    except Exception as e:  # pragma: no cover - a dump of a valid Config validates
        raise ConfigError(f"candidate policy: {e}") from None
    local._store_revision = cfg.revision()
    local._layers = None
    fw = Firewall(local, audit="none", settings=settings, mode="enforce")
    if not rate_limits:
        object.__setattr__(fw, "_rate", None)
    return fw
