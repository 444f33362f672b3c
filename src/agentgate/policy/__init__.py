"""Policy: the operation vocabulary, scopes, and agentgate.yaml.

Combination rule (deny-overrides): the policy in force for a call is the
intersection of the agent's policy and every active ``scope()``; any layer's
denial wins, and a nested layer can only narrow. Tier-1 findings combine the
same way: any BLOCK finding blocks, else any ESCALATE escalates, else ALLOW.
"""

from ._operations import BUILTIN_OPERATIONS, canonical, subsumes
from ._scope import EffectivePolicy, ScopePolicy, make_scope, match_resource

__all__ = [
    "BUILTIN_OPERATIONS",
    "EffectivePolicy",
    "ScopePolicy",
    "canonical",
    "make_scope",
    "match_resource",
    "subsumes",
]
