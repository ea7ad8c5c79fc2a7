"""The generated documents: the example configuration and the README's rule and source tables.

Both are rendered from the settings schema and the plug-in registries (:mod:`agent.example_config`,
:mod:`agent.catalogue`) and checked in, so a reader of the repository sees them without running
anything.  ``python -m agent.templates`` prints the example config; ``--write`` rewrites
``deploy/costagent.example.toml`` and the README's generated tables in place, and
``tests/test_docs_generated.py`` fails while a checked-in copy differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.catalogue import README_PATH, readme_with_tables
from agent.example_config import EXAMPLE_PATH, ROOT, render

__all__ = ["example_config", "generated_files", "main"]


def example_config() -> str:
    """The commented example config: every section, source type and rule, every key."""
    return render()


def generated_files() -> dict[Path, str]:
    """Each checked-in generated file with the text it must hold."""
    return {
        EXAMPLE_PATH: render(),
        README_PATH: readme_with_tables(README_PATH.read_text(encoding="utf-8")),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the example, or ``--write`` it and the README's generated tables in place."""
    parser = argparse.ArgumentParser(prog="python -m agent.templates", description=__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the checked-in files")
    args = parser.parse_args(argv)
    if not args.write:
        sys.stdout.write(render())
        return 0
    for path, text in generated_files().items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
