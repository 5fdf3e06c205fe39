"""The hub's ASGI app (docs/CONTRACTS.md, "Hub HTTP API"); the code lives in `hub.hosting`.

    uvicorn --factory hub.app:create_app
"""

from hub.hosting import HubConfig, HubEnvironments, create_app, load_environments

__all__ = ["HubConfig", "HubEnvironments", "create_app", "load_environments"]
