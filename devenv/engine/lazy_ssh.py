"""paramiko, loaded when an ssh:// engine first uses it, not when the Docker SDK is imported.

``docker[ssh]`` makes ``import docker`` import paramiko (and paramiko's ``invoke``) for its
ssh transport: about 0.2 s of every devenv command on this machine, used only with an
``ssh://`` engine. The SDK touches paramiko only inside the ssh adapter's methods, so the
module it binds can be a stand-in that imports the real paramiko at its first attribute
lookup and hands every lookup on to it. (``importlib.util.LazyLoader`` does not do here: on
Python 3.11 the next ``import paramiko`` statement reads ``__spec__`` and runs the module.)
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    """Stands in for a module until an attribute of it is first read."""

    def __getattr__(self, attr: str):
        real = self.__dict__.get("_real")
        if real is None:
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
            real = importlib.import_module(self.__name__)
            self.__dict__["_real"] = real
        return getattr(real, attr)


def defer(name: str = "paramiko") -> None:
    """Make ``import name`` bind a stand-in whose first attribute lookup imports the module."""
    if name in sys.modules or importlib.util.find_spec(name) is None:
        return   # loaded already, or not installed (the SDK's ssh transport is then absent)
    sys.modules[name] = _Deferred(name)
