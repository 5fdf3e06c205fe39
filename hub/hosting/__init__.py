"""Hosting: the Starlette app that serves every environment of a build over MCP and REST.

The app and its dependencies (Starlette, the MCP SDK) load on first use, so that the CLI can read
the settings' defaults from `hub.hosting.config` without paying for them.
"""

from __future__ import annotations

from typing import Any

from hub.hosting.config import HubConfig, HubConfigError, check_bind_security, is_loopback

_FROM_APP = frozenset({"HubEnvironments", "create_app", "load_environments"})

__all__ = [
    "HubConfig",
    "HubConfigError",
    "HubEnvironments",
    "check_bind_security",
    "create_app",
    "is_loopback",
    "load_environments",
]


def __getattr__(name: str) -> Any:
    if name in _FROM_APP:
        from hub.hosting import app

        return getattr(app, name)
    raise AttributeError(f"module 'hub.hosting' has no attribute {name!r}")
