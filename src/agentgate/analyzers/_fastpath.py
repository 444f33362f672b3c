"""One switch for the analyzers' exact fast paths.

A fast path skips work whose result cannot change the findings: a prefilter that proves a
regex cannot match, a repeated window or candidate that can only repeat what was found, a
scan left without the markers a text cannot hold. Each is written next to the slow path it
shortcuts, behind ``if _fastpath.ENABLED``, so the slow path stays the reference:
``tests/analyzers/test_fast_paths.py`` turns the switch off in a fresh interpreter (no cache
holds a fast result there) and checks that every call of the findings corpus finds the same.
Nothing else should turn it off.
"""

from __future__ import annotations

ENABLED = True
