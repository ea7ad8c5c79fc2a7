"""The rules engine (findings with a dollar figure) lands with its own issue."""
