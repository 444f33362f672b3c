"""``python -m agentgate.cli``."""

from . import main

main()
