"""A module's first import, run inside a context of our choosing.

The package's processes use it twice: TensorFlow loads with its start-up notices hidden
(verbosity.py), and Keras' scikit-learn wrappers load without scikit-learn (lean_imports.py).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from types import ModuleType


class _LoaderInside(importlib.abc.Loader):
    """A module's own loader, run inside `context()`."""

    def __init__(self, loader: importlib.abc.Loader, context: Callable[[], AbstractContextManager[object]]) -> None:
        self._loader = loader
        self._context = context

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        with self._context():
            self._loader.exec_module(module)


class OnFirstImport(importlib.abc.MetaPathFinder):
    """Once installed, finds module `name` once, as Python would, and hands back its spec with
    a loader that runs inside `context()`; then leaves `sys.meta_path`."""

    def __init__(self, name: str, context: Callable[[], AbstractContextManager[object]]) -> None:
        self._name = name
        self._context = context

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self._name:
            return None
        self.remove()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _LoaderInside(spec.loader, self._context)
        return spec

    def install(self) -> None:
        """Take effect for the module's first import, unless it is imported already."""
        if self._name not in sys.modules and self not in sys.meta_path:
            sys.meta_path.insert(0, self)

    def remove(self) -> None:
        if self in sys.meta_path:
            sys.meta_path.remove(self)
