"""The built-in rules: importing this module registers every one of them."""

from rules import spot_training  # noqa: F401
