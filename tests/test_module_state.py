"""No module-level mutable state in the core (issue #13): every module global of ``bot/`` and ``knowledge/`` is a
constant (tables are ``MappingProxyType`` / ``frozenset`` / tuples), so two runtimes in one process share nothing
and a test cannot leak into the next through a module."""

from __future__ import annotations

import collections
import importlib
import pkgutil
import threading
from types import ModuleType

import pytest

import bot
import knowledge

#: Module globals that hold state on purpose, with the reason.
ALLOWED = {
    # matplotlib's pyplot and font caches are process-wide; one lock for the process is the right scope
    ("bot.services.insights_charts", "_LOCK"),
}
MUTABLE = (dict, list, set, bytearray, collections.deque, collections.OrderedDict, collections.defaultdict)
LOCKS = (type(threading.Lock()), type(threading.RLock()))


def modules(package: ModuleType) -> list[str]:
    """The package and every module under it (the migrations are Alembic's scripts, not the core's)."""
    return [package.__name__] + sorted(m.name for m in pkgutil.walk_packages(package.__path__, f"{package.__name__}.")
                                       if ".migrations" not in m.name)


@pytest.mark.parametrize("name", modules(bot) + modules(knowledge))
def test_module_globals_are_constants(name: str) -> None:
    module = importlib.import_module(name)
    mutable = sorted(key for key, value in vars(module).items()
                     if not key.startswith("__") and (name, key) not in ALLOWED
                     and (isinstance(value, MUTABLE) or isinstance(value, LOCKS)))
    assert mutable == [], f"{name} holds mutable module state: {mutable}"
