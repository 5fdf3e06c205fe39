"""Hand-written example environments, shipped as package data (one EnvSpec JSON file each).

They are what `envhub serve` serves when given no build folder, and what tests use.
"""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent


def example_spec_paths() -> list[Path]:
    """Paths of the example EnvSpec files, sorted by name."""
    return sorted(EXAMPLES_DIR.glob("*.json"))
