"""Robustness: a killed collector resumes without losing or duplicating tasks; a hub restart
mid-run is ridden out by retrying the episodes it lost."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from agent.engine import EngineConfig
from agent.run import collect_to_file
from agent.settings import PolicySettings
from agent.store import read_trajectories
from agent.tasks import load_tasks
from hub.hosting import HubConfig, create_app
from tests.test_agent_e2e import order_desk_tasks
from tests.test_agent_support import order_desk_hub, write_tasks

REPO = Path(__file__).resolve().parents[1]


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.slow  # two collector subprocesses (~10 s on a shared 2-core box)
async def test_killed_collector_resumes_without_loss_or_duplicates(tmp_path):
    with order_desk_hub(tmp_path) as hub_url:
        tasks = await order_desk_tasks(hub_url, copies=8)  # 48 tasks
        tasks_file = write_tasks(tmp_path / "t.jsonl", tasks)
        out = tmp_path / "traj.jsonl"
        base = [sys.executable, "-m", "agent.cli", "collect", hub_url, "--tasks", str(tasks_file), "--out", str(out),
                "--scripted-latency", "0.05", "--quiet"]
        cmd = base + ["--concurrency", "2"]
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while _line_count(out) < 8 and time.monotonic() < deadline and proc.poll() is None:
            await asyncio.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        first_run = _line_count(out)
        assert 8 <= first_run < len(tasks), "the collector must be killed mid-run"
        with out.open("a") as fh:
            fh.write('{"format": "envhub.trajectory/1", "task_id": "od-')  # a write cut short by the kill
        resume = base + ["--resume", "--concurrency", "4"]
        done = subprocess.run(resume, cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
    ids = [r["task_id"] for r in read_trajectories(out)]
    assert sorted(ids) == sorted(t["task_id"] for t in tasks)  # none lost, none duplicated
    assert all(r["passed"] for r in read_trajectories(out))


class RestartableHub:
    """A uvicorn hub on a fixed port that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        app = create_app(HubConfig(build_dir=None))
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error", lifespan="on",
                                timeout_graceful_shutdown=1, access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "hub did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        assert self.server is not None and self.thread is not None
        self.server.should_exit = True
        self.thread.join(timeout=10)


async def test_hub_restart_mid_run_is_retried(tmp_path):
    hub = RestartableHub()
    hub.start()
    try:
        tasks = await order_desk_tasks(hub.url, copies=6)  # 36 tasks
        out = tmp_path / "traj.jsonl"
        restarted = asyncio.Event()

        def on_result(trajectory: dict, summary) -> None:
            if summary.done == 6 and not restarted.is_set():
                restarted.set()

        async def restart_when_asked() -> None:
            await restarted.wait()
            await asyncio.to_thread(hub.stop)  # the hub forgets every live episode
            await asyncio.sleep(0.3)           # connections are refused meanwhile
            await asyncio.to_thread(hub.start)

        restarter = asyncio.create_task(restart_when_asked())
        config = EngineConfig(url=hub.url, concurrency=6, retries=4, call_timeout=5, episode_timeout=30)
        summary = await collect_to_file(load_tasks(write_tasks(tmp_path / "t.jsonl", tasks)), config,
                                        PolicySettings(scripted_latency=0.05), out,
                                        on_result=on_result)
        await restarter
    finally:
        hub.stop()
    records = read_trajectories(out)
    assert sorted(r["task_id"] for r in records) == sorted(t["task_id"] for t in tasks)
    assert summary.retries >= 1, "episodes in flight during the restart must have been retried"
    assert summary.errors == 0 and all(r["passed"] for r in records)
    retried = [r for r in records if r["attempts"] > 1]
    assert retried and all(r["filters"]["state_match"] for r in retried)
    assert json.loads(json.dumps(summary.to_dict()))["retries"] == summary.retries
    assert os.path.exists(out)
