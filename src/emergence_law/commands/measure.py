"""CLI commands of the 'measure' area (see commands/__init__.py for the map)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the main app (heavy imports stay inside the commands)."""
