"""Hosting: the Starlette app that serves every environment of a build over MCP and REST."""

from hub.hosting.app import HubEnvironments, create_app, load_environments
from hub.hosting.config import HubConfig, HubConfigError, check_bind_security, is_loopback

__all__ = [
    "HubConfig",
    "HubConfigError",
    "HubEnvironments",
    "check_bind_security",
    "create_app",
    "is_loopback",
    "load_environments",
]
