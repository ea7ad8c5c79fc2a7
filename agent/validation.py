"""Pydantic validation errors as the one-line messages a user can act on.

Config tables are validated in several places (the settings file, each ``[[sources]]`` table
against its collector's model, each ``[rules.<id>]`` table against its rule's model, ``--set``
values); they all name the offending key the same way through these two functions.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class ConfigError(Exception):
    """The configuration cannot be used; the message names the file and the key."""


def describe(error: Any) -> str:
    """One pydantic error's message; a forbidden extra key reads as the likely typo it is."""
    if error["type"] == "extra_forbidden":
        return "unknown key (typo?)"
    return str(error["msg"]).removeprefix("Value error, ")  # our validators' words suffice


def first_problem(exc: ValidationError) -> str:
    """``dotted.key: message`` for the first error (the rest usually follow from it)."""
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    return f"{loc}: {describe(first)}"
