"""Lazy public names of a package (PEP 562): each is imported from its submodule the first time it is used."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from types import MappingProxyType
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, tuple[str, ...]]
                 ) -> tuple[Mapping[str, str], Callable[[str], Any], Callable[[], list[str]]]:
    """For the package ``package`` whose globals are ``namespace``, with ``exports`` = submodule -> public names:
    the map name -> submodule, and the package's ``__getattr__`` and ``__dir__``."""
    module_of = MappingProxyType({name: module for module, names in exports.items() for name in names})

    def getattr_(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{module}", package), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(namespace.get("__all__", ())))

    return module_of, getattr_, dir_
