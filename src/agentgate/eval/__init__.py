"""The labelled adversarial evaluation suite and its runner (``agentgate eval``)."""

from .resolver import eval_resolver

__all__ = ["eval_resolver"]
