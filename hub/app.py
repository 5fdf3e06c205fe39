"""The hub's ASGI app (docs/CONTRACTS.md, "Hub HTTP API"); the code lives in `hub.hosting`.

Any ASGI server can run it as a factory; settings come from ENVHUB_* variables
(docs/hosting-security.md), and the same auth/limits gate as `envhub serve` applies:

    ENVHUB_BUILD_DIR=build uvicorn --factory hub.app:create_app
    ENVHUB_TOKEN=secret ENVHUB_HOST=0.0.0.0 uvicorn --factory hub.app:create_app --host 0.0.0.0 \\
        --http hub.hosting.protocol:HubH11Protocol

Without ENVHUB_TOKEN the hub answers only requests that arrive on a loopback socket, whatever
address the server was told to bind; with ENVHUB_HOST set to a public address and no token it
refuses to start.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from hub.hosting import HubConfig, HubEnvironments, load_environments
from hub.hosting import create_app as create_hub_app


def create_app(config: HubConfig | None = None, *, environments: HubEnvironments | None = None) -> ASGIApp:
    """The hub as an ASGI app; with no `config`, the settings are read from ENVHUB_* variables."""
    return create_hub_app(config if config is not None else HubConfig.from_env(), environments=environments)


__all__ = ["HubConfig", "HubEnvironments", "create_app", "load_environments"]
