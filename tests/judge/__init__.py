"""Tier-2 judge and human approval tests."""
