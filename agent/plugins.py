"""How plug-ins are found and what a plug-in base learns from its subclass — one mechanism for
collectors, rules and file formats.

A plug-in is a class defined in a module of its package (``collectors``, ``rules``,
``collectors.formats``); defining the class registers it (the bases' ``__init_subclass__``).
:func:`discover` imports every module of the package, so adding a plug-in is adding a file: no
import list to keep in step, and no deny-list of helper modules either — a helper module simply
defines no plug-in class.

:func:`config_of` reads a generic base's parameter (``class IdleGpu(Rule[IdleGpuConfig])``), so a
plug-in names its config model once, in its class line, where the type checker sees it too.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TypeVar, get_args, get_origin

from pydantic import BaseModel


def discover(package: str) -> None:
    """Import every module below ``package`` (sub-packages included), in name order."""
    root = importlib.import_module(package)
    for info in sorted(pkgutil.walk_packages(root.__path__, f"{package}."), key=lambda m: m.name):
        if not info.name.rpartition(".")[2].startswith("_"):
            importlib.import_module(info.name)


M = TypeVar("M", bound=BaseModel)


def config_of(cls: type, base: type, bound: type[M]) -> type[M] | None:
    """The config model ``cls`` gives its generic ``base`` (``base[Model]``), or None.

    Looks through ``cls``'s own generic bases only; a subclass of a subclass inherits its
    parent's model.  A parameter that is not a ``bound`` model is a TypeError at import.
    """
    for generic in getattr(cls, "__orig_bases__", ()):
        origin = get_origin(generic)
        if not (isinstance(origin, type) and issubclass(origin, base)):
            continue
        (arg,) = get_args(generic)
        if isinstance(arg, type) and issubclass(arg, bound):
            return arg
        if isinstance(arg, TypeVar):
            return None  # still generic (an intermediate base): no model yet
        raise TypeError(f"{cls.__name__}: {arg.__name__} is not a {bound.__name__}")
    return None
