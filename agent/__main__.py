"""``python -m agent`` is ``costagent``."""

from agent.cli import main

main()
