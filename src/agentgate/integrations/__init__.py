"""Framework integrations: each patches one framework so its tool calls pass the firewall.

Every module here imports its framework lazily and exposes:

* ``FRAMEWORK``: the name used by ``protect_all`` / ``doctor`` (``"langchain"``);
* ``available() -> bool``: the framework is importable;
* ``install() -> bool``: patch (idempotent; False when the framework is absent);
* ``uninstall() -> None``: restore the originals;
* ``installed() -> bool``: currently patched;
* ``TESTED_VERSIONS``: package → version the tests ran against.
"""

from __future__ import annotations

#: Module names under agentgate.integrations, in the order protect_all tries them.
INTEGRATIONS: tuple[str, ...] = ("langchain", "openai_agents", "crewai", "autogen", "openai", "anthropic", "mcp")
