"""The example configuration ``costagent init`` writes — generated, never hand-kept.

Kept as the stable import for callers; the text comes from :mod:`agent.example_config`, which
walks the settings schema.  ``python -m agent.templates`` prints it (``--write`` also rewrites
``deploy/costagent.example.toml`` and the README's generated tables).
"""

from __future__ import annotations

from agent.example_config import main, render

__all__ = ["example_config"]


def example_config() -> str:
    """The commented example config: every section, source type and rule, every key."""
    return render()


if __name__ == "__main__":
    raise SystemExit(main())
