"""``costagent init``: a first config file and a store to go with it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from agent.cli.app import err, errors, open_engine, out, state


def init(
    path: Annotated[Path, typer.Option(help="Where to write the config file.")] = Path(
        "costagent.toml"
    ),
    force: Annotated[bool, typer.Option(help="Overwrite an existing config file.")] = False,
) -> None:
    """Write a commented example config and create (or upgrade) the database."""
    from agent.example_config import render

    with errors():
        if path.exists() and not force:
            err.print(f"{path} exists; keeping it (use --force to overwrite)")
        else:
            path.write_text(render(), encoding="utf-8")
            out.print(f"wrote {path}")
        state.config = str(path)
        state._settings = None
        engine = open_engine(create=True)
        out.print(f"database ready: {engine.url.render_as_string(hide_password=True)}")
