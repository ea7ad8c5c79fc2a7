"""The built-in rules: importing this module registers every one of them."""

from rules import idle_gpu, spot_training  # noqa: F401
