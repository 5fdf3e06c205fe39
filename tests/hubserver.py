"""Run a real hub (uvicorn) on a free loopback port for a test, and stop it afterwards.

    from tests.hubserver import running_hub

    def test_something(tmp_path):
        with running_hub() as base_url:            # the built-in example environments
            httpx2.get(f"{base_url}/envs")

`running_hub(build_dir, token, **options)`: `options` are `HubConfig` fields (for example
`episode_ttl_seconds=2`, `max_body_bytes=4096`) or `environments=HubEnvironments(...)`.
The server runs in a background thread with its own event loop, so the helper works from
plain and from async tests alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from hub.hosting import HubConfig, create_app

START_TIMEOUT_SECONDS = 20.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_hub(build_dir: Path | None = None, token: str | None = None, **options: Any) -> Iterator[str]:
    """Yields the hub's base URL (`http://127.0.0.1:PORT`) while it serves."""
    config_fields = {f.name for f in dataclasses.fields(HubConfig)}
    config = HubConfig(
        build_dir=build_dir,
        token=token,
        **{k: v for k, v in options.items() if k in config_fields},
    )
    app_options = {k: v for k, v in options.items() if k not in config_fields}
    app = create_app(config, **app_options)
    with serving(app) as base_url:
        yield base_url


@contextlib.contextmanager
def serving(app: Any, log_level: str = "warning") -> Iterator[str]:
    """Serve any ASGI app on a free loopback port in a background thread."""
    # Binding here and handing the socket to uvicorn leaves no window for another process
    # to take the port between choosing and listening.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=2, access_log=False
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as err:  # surfaced to the test below
            errors.append(err)

    thread = threading.Thread(target=run, name=f"hub-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_healthy(base_url, thread, errors)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_until_healthy(base_url: str, thread: threading.Thread, errors: list[BaseException]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    last_problem = "no answer yet"
    while time.monotonic() < deadline:
        if errors:
            raise RuntimeError(f"hub failed to start: {errors[0]!r}") from errors[0]
        if not thread.is_alive():
            raise RuntimeError("hub thread exited before answering /health (see the log above)")
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
                if response.status == 200:
                    return
                last_problem = f"HTTP {response.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as err:
            last_problem = repr(err)
        time.sleep(0.02)
    raise RuntimeError(f"hub at {base_url} did not answer /health within {START_TIMEOUT_SECONDS:g} s: {last_problem}")
