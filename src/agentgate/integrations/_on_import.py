"""Run a callback right after a module is first imported (post-import hooks).

``protect_all()`` must not import every installed framework just to patch it:
importing ag2, openai-agents, LangChain and friends took 11 s in our dev
environment. Frameworks already imported are patched at once; the others are
patched the moment the application imports them, before it can use them. Every
import goes through ``sys.meta_path`` unless the module is already in
``sys.modules``, so no import path escapes the hook.

>>> import sys
>>> seen = []
>>> when_imported("json.tool", lambda m: seen.append(m.__name__))
>>> _ = sys.modules.pop("json.tool", None)
>>> import json.tool
>>> seen
['json.tool']
>>> cancel_all()
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

__all__ = ["cancel_all", "pending", "when_imported"]

logger = logging.getLogger("agentgate")

Callback = Callable[[ModuleType], None]

_lock = threading.RLock()
_hooks: dict[str, list[Callback]] = {}


class _Loader(importlib.abc.Loader):
    """Wraps the real loader; runs the hooks once the module has executed."""

    def __init__(self, inner: importlib.abc.Loader, name: str) -> None:
        self._inner = inner
        self._name = name

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        with _lock:
            callbacks = _hooks.pop(self._name, [])
        _maybe_uninstall_finder()
        for cb in callbacks:
            # A failing patch must be loud: the framework would run unprotected.
            cb(module)

    def __getattr__(self, attr: str) -> Any:  # is_package, get_code, get_resource_reader, ...
        return getattr(self._inner, attr)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _hooks:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


_finder = _Finder()


def _maybe_uninstall_finder() -> None:
    with _lock:
        if not _hooks and _finder in sys.meta_path:
            sys.meta_path.remove(_finder)


def when_imported(name: str, callback: Callback) -> None:
    """Call ``callback(module)`` once *name* is imported; at once if it already is."""
    mod = sys.modules.get(name)
    if mod is not None:
        callback(mod)
        return
    with _lock:
        _hooks.setdefault(name, []).append(callback)
        if _finder not in sys.meta_path:
            sys.meta_path.insert(0, _finder)


def pending() -> list[str]:
    """Module names still waiting to be imported."""
    with _lock:
        return sorted(_hooks)


def cancel_all() -> None:
    """Forget every pending hook (``unprotect_all``)."""
    with _lock:
        _hooks.clear()
    _maybe_uninstall_finder()
