"""A package face that imports each of its names from its module on first use (PEP 562).

``jaxbp.train`` and ``jaxbp.exercises`` re-export a few names each; importing the
package stays cheap (no JAX), and a name's module loads when the name is first read.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

__all__ = ["face"]


def face(package: str, table: dict[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package``: name ``n`` is ``package.<table[n]>.n``.

    >>> getattr_, dir_ = face("jaxbp.train", {"Config": "config"})
    >>> getattr_("Config").__module__, "Config" in dir_()
    ('jaxbp.train.config', True)
    """

    def __getattr__(name: str):
        if name in table:
            value = getattr(importlib.import_module(f"{package}.{table[name]}"), name)
            setattr(sys.modules[package], name, value)  # read once, then a plain attribute
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(table))

    return __getattr__, __dir__
