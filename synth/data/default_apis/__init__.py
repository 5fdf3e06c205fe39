"""envhub's built-in API collection: what `envhub synth` synthesizes when given no input.

Twelve hand-designed OpenAPI 3.0 descriptions of everyday service APIs (orders and returns,
flights, banking, calendar, support tickets, clinic appointments, telecom plans, library loans,
hotels, food delivery, car rental, event tickets), one YAML file per API. They follow the
conventions the synthesizer infers tables and operations from; see "Built-in API collection" in docs/synth.md.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def default_api_dir() -> Path:
    """The folder holding the built-in OpenAPI files (`*.yaml`, one API each)."""
    return _HERE


def default_api_files() -> list[Path]:
    """The built-in OpenAPI files, sorted by name; fails loudly if the package data is missing."""
    files = sorted(_HERE.glob("*.yaml"))
    if not files:
        raise FileNotFoundError(
            f"{_HERE}: no built-in API files (*.yaml) found; the envhub installation is incomplete"
        )
    return files


# How an EnvSpec names a built-in file in its `source`: independent of where the package is installed,
# so the same seed gives byte-identical builds in every checkout.
SOURCE_PREFIX = "envhub:default_apis/"


def source_name(path: str) -> str:
    """`path` as an EnvSpec records it: built-in files by package name, any other file as given."""
    try:
        relative = Path(path).resolve().relative_to(_HERE)
    except (ValueError, OSError):
        return path
    return SOURCE_PREFIX + relative.as_posix()
