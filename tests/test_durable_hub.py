"""Durable episodes through real hub processes: `envhub serve --state-dir` stopped, killed and restarted."""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.hubserver import free_port

ENV = "order-desk"
ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0


@contextlib.contextmanager
def hub_process(state_dir: Path, *extra: str, log: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """`envhub serve --state-dir state_dir` (the built-in examples) as a child process on a free port."""
    port = free_port()
    command = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--state-dir", str(state_dir),
               "--log-level", "warning", *extra]
    with log.open("a") as output:
        process = subprocess.Popen(command, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"hub exited with {process.returncode}: {log.read_text()[-2000:]}")
            with contextlib.suppress(httpx2.TransportError):
                if httpx2.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"hub did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


def stop(process: subprocess.Popen) -> bool:
    """Stop the hub as a service manager does; True when it shut down on the signal, not by force."""
    process.send_signal(signal.SIGTERM)
    # uvicorn runs the shutdown (lifespan included) and then re-raises the signal it caught.
    return process.wait(timeout=30) in (0, -signal.SIGTERM)


def create(base: str, **body) -> dict:
    response = httpx2.post(f"{base}/envs/{ENV}/episodes", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def state(base: str, episode_id: str) -> dict:
    response = httpx2.get(f"{base}/episodes/{episode_id}/state")
    assert response.status_code == 200, response.text
    return response.json()


async def call(url: str, tool: str, arguments: dict, headers: dict | None = None) -> dict:
    """One tool call on a connection of its own (as a client that opens a session per call does)."""
    async with (httpx2.AsyncClient(headers=headers or {}, timeout=30) as http,
                Client(streamable_http_client(url, http_client=http)) as client):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content or {}


def registry_ids(state_dir: Path) -> set[str]:
    with sqlite3.connect(state_dir / "registry.sqlite") as conn:
        return {row[0] for row in conn.execute("SELECT episode_id FROM envhub_episodes")}


async def test_episodes_and_snapshots_survive_a_hub_restart(tmp_path):
    state_dir, log = tmp_path / "state", tmp_path / "hub.log"
    with hub_process(state_dir, log=log) as (base, process):
        first, second = create(base), create(base, seed=3)
        await call(first["mcp_url"], "cancel_order", {"order_id": "O-1002", "reason": "late"})
        snapshot = httpx2.post(f"{base}/episodes/{first['episode_id']}/snapshot").json()["snapshot_id"]
        at_snapshot = state(base, first["episode_id"])["state_hash"]
        await call(first["mcp_url"], "update_shipping_address",
                   {"order_id": "O-1003", "shipping_address": "7 Restart Road"})
        fork = httpx2.post(f"{base}/episodes/{first['episode_id']}/fork").json()
        await call(fork["mcp_url"], "cancel_order", {"order_id": "O-1006", "reason": "forked"})
        # The per-environment URL with the episode header addresses the same episode.
        await call(f"{base}/envs/{ENV}/mcp", "cancel_order", {"order_id": "O-1006", "reason": "gone"},
                   headers={"X-Episode-Id": second["episode_id"]})
        ids = [first["episode_id"], second["episode_id"], fork["episode_id"]]
        before = {i: state(base, i) for i in ids}
        diff_before = httpx2.get(f"{base}/episodes/{first['episode_id']}/diff").json()
        assert len({s["state_hash"] for s in before.values()}) == 3
        assert stop(process)

    with hub_process(state_dir, log=log) as (base, process):
        assert httpx2.get(f"{base}/health").json()["live_episodes"] == 3
        for episode_id in ids:
            after = state(base, episode_id)
            assert after["state_hash"] == before[episode_id]["state_hash"]
            assert after["row_counts"] == before[episode_id]["row_counts"]
        assert httpx2.get(f"{base}/episodes/{first['episode_id']}/diff").json() == diff_before
        restored = httpx2.post(f"{base}/episodes/{first['episode_id']}/restore", json={"snapshot_id": snapshot})
        assert restored.status_code == 200 and restored.json()["state_hash"] == at_snapshot
        # The recovered episode keeps serving MCP calls at its old URL.
        # (the new process listens on another port; the path is what stays)
        order = await call(f"{base}/envs/{ENV}/episodes/{first['episode_id']}/mcp", "get_order",
                           {"order_id": "O-1002"})
        assert order["status"] == "cancelled"
        assert stop(process)


async def test_acknowledged_writes_survive_a_killed_hub(tmp_path):
    state_dir, log = tmp_path / "state", tmp_path / "hub.log"
    with hub_process(state_dir, log=log) as (base, process):
        episode = create(base)
        await call(episode["mcp_url"], "cancel_order", {"order_id": "O-1002", "reason": "late"})
        expected = state(base, episode["episode_id"])["state_hash"]
        process.kill()  # no shutdown hook runs
        process.wait(timeout=30)
    with hub_process(state_dir, log=log) as (base, process):
        assert state(base, episode["episode_id"])["state_hash"] == expected
        assert stop(process)


@pytest.mark.slow
def test_expired_episodes_leave_disk_and_registry(tmp_path):
    state_dir, log = tmp_path / "state", tmp_path / "hub.log"
    with hub_process(state_dir, "--ttl", "1", log=log) as (base, process):
        episode_id = create(base)["episode_id"]
        snapshot = httpx2.post(f"{base}/episodes/{episode_id}/snapshot")
        assert snapshot.status_code == 201
        assert (state_dir / "episodes" / f"{episode_id}.sqlite").exists() and episode_id in registry_ids(state_dir)
        deadline = time.monotonic() + 30
        while httpx2.get(f"{base}/health").json()["live_episodes"] and time.monotonic() < deadline:
            time.sleep(0.2)  # the expiry loop runs every quarter TTL
        assert httpx2.get(f"{base}/episodes/{episode_id}/state").status_code == 404
        assert not (state_dir / "episodes" / f"{episode_id}.sqlite").exists()
        assert list((state_dir / "snapshots").iterdir()) == []
        assert list((state_dir / "starts").iterdir()) == []
        assert registry_ids(state_dir) == set()
        assert stop(process)


def test_a_second_hub_on_the_same_state_dir_is_refused(tmp_path):
    state_dir, log = tmp_path / "state", tmp_path / "hub.log"
    with hub_process(state_dir, log=log) as (_, process):
        other = subprocess.run(
            [sys.executable, "-m", "hub.cli", "serve", "--port", str(free_port()), "--state-dir", str(state_dir)],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert other.returncode == 2 and "already in use" in " ".join(other.stderr.split())
        assert stop(process)


def test_state_url_without_state_dir_is_refused(tmp_path):
    other = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(free_port()), "--state-url", "sqlite://"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert other.returncode == 2 and "needs --state-dir" in " ".join(other.stderr.split())


def test_state_flags_parse():
    from hub.cli import build_parser

    args = build_parser().parse_args(["serve", "build", "--state-dir", "st", "--state-url", "sqlite:///r.db",
                                      "--state-fsync"])
    assert args.state_dir == Path("st") and args.state_url == "sqlite:///r.db" and args.state_fsync
    plain = build_parser().parse_args(["serve"])
    assert plain.state_dir is None and plain.state_url is None and not plain.state_fsync
