"""Regression tests for issue 13, item 6 (collector side): fail fast after a bounded outage, close
in-flight episodes on exit, never leave a child hub running."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx2
import psutil
import pytest

from agent.engine import EngineConfig
from agent.retry import HubUnreachable, OutageWatch, cancellation_pending
from agent.run import collect_to_file
from agent.settings import PolicySettings
from agent.store import read_trajectories
from agent.tasks import load_tasks
from tests.hubserver import free_port
from tests.test_agent_e2e import order_desk_tasks
from tests.test_agent_support import order_desk_hub, write_tasks

REPO = Path(__file__).resolve().parents[1]


def test_outage_watch_gives_up_only_after_the_limit_of_consecutive_failures():
    now = [0.0]
    watch = OutageWatch("http://hub", 30, clock=lambda: now[0])
    watch.failed("ConnectError: refused")
    now[0] = 29
    watch.check()  # still within the allowed outage
    watch.reached()  # the hub answered: the outage is over
    now[0] = 100
    watch.check()
    watch.failed("ConnectError: refused")
    now[0] = 131
    with pytest.raises(HubUnreachable, match=r"not been reachable for 31 s \(1 failed attempt"):
        watch.check()
    OutageWatch("http://hub", 0).check()  # 0 = never give up


async def test_collector_fails_fast_when_the_hub_is_gone_for_good(tmp_path):
    with order_desk_hub(tmp_path) as base_url:
        tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", await order_desk_tasks(base_url, copies=5)))
    # Reproduction: with the hub gone for good the collector retried for minutes (70 errors,
    # 221 retries in 3.5 min) and wrote every task as an error.
    dead = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "traj.jsonl"
    config = EngineConfig(url=dead, concurrency=4, max_outage=1.0, retries=3)
    with pytest.raises(HubUnreachable) as err:
        await collect_to_file(tasks, config, PolicySettings(policy="scripted"), out)
    assert dead in str(err.value) and "ConnectError" in str(err.value) and "--max-outage" in str(err.value)
    # Nothing was recorded as done: `--resume` runs every task once the hub is back.
    assert read_trajectories(out) == []


def test_cli_reports_the_outage_and_exits_nonzero(tmp_path):
    tasks_file = tmp_path / "tasks.jsonl"
    with order_desk_hub(tmp_path) as base_url:
        write_tasks(tasks_file, asyncio.run(order_desk_tasks(base_url))[:2])
    dead = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run([sys.executable, "-m", "agent.cli", "collect", dead, "--tasks", str(tasks_file),
                           "--out", str(tmp_path / "o.jsonl"), "--quiet", "--max-outage", "1"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 3, done.stderr[-2000:]
    message = " ".join(done.stderr.split())
    assert f"error: {dead} cannot be reached (ConnectError" in message and "plain MCP" not in message


def _live(base_url: str) -> int:
    return httpx2.get(f"{base_url}/health").json()["live_episodes"]


def _default_sigint() -> None:
    # A test run started as a background job of a non-interactive shell (`cmd &`) ignores SIGINT,
    # and a child inherits that; the collector rightly keeps an ignored SIGINT ignored. The user
    # pressing Ctrl-C that this test stands for has the default disposition.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stopped_collector_closes_its_in_flight_episodes(tmp_path, sig):
    with order_desk_hub(tmp_path) as base_url:
        tasks_file = write_tasks(tmp_path / "tasks.jsonl", asyncio.run(order_desk_tasks(base_url, copies=4)))
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent.cli", "collect", base_url, "--tasks", str(tasks_file),
             "--out", str(tmp_path / "o.jsonl"), "--quiet", "--concurrency", "4", "--scripted-latency", "30"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)},
            preexec_fn=_default_sigint,
        )
        try:
            deadline = time.monotonic() + 90
            while _live(base_url) < 4:  # four episodes in flight, each waiting on its "model"
                assert proc.poll() is None, proc.stderr.read()[-2000:] if proc.stderr else ""
                assert time.monotonic() < deadline, "the collector never opened its episodes"
                time.sleep(0.1)
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        # Reproduction: a stopped collector left its episodes until the TTL (900 s by default).
        assert proc.returncode == 130, stderr[-2000:]
        assert "interrupted" in stderr
        assert _live(base_url) == 0


async def test_a_stop_the_client_turns_into_its_own_error_still_stops_the_run(tmp_path, monkeypatch):
    """An HTTP/MCP client may answer a cancellation with a transport error of its own. From Python
    3.12 `asyncio.wait_for` runs the episode in the collector's own task, so that error reached the
    retry loop, which took it for an outage and started the episode again: a stopped collector kept
    running. (On 3.11 `wait_for` re-raises the cancellation itself; the run must stop either way.)"""
    import agent.engine as engine

    real_run_episode = engine.run_episode

    async def run_episode_whose_client_swallows_cancel(*args, **kwargs):
        try:
            return await real_run_episode(*args, **kwargs)
        except asyncio.CancelledError:
            raise ConnectionError("stream closed") from None  # transient by `is_transient`

    monkeypatch.setattr(engine, "run_episode", run_episode_whose_client_swallows_cancel)
    with order_desk_hub(tmp_path) as base_url:
        tasks = load_tasks(write_tasks(tmp_path / "tasks.jsonl", await order_desk_tasks(base_url, copies=2)))
        config = EngineConfig(url=base_url, concurrency=2, retries=3)
        run = asyncio.create_task(collect_to_file(tasks, config, PolicySettings(policy="scripted",
                                                                                scripted_latency=30), tmp_path / "o.jsonl"))
        deadline = time.monotonic() + 60
        while _live(base_url) < 2:
            assert not run.done() and time.monotonic() < deadline
            await asyncio.sleep(0.05)
        run.cancel()
        started = time.monotonic()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(run, 20)  # a retried episode would wait out the 30 s latency first
        assert time.monotonic() - started < 20
        assert _live(base_url) == 0


async def test_cancellation_pending_sees_a_stop_request_that_was_swallowed():
    seen: list[bool] = []

    async def client_call() -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            raise ConnectionError("stream closed") from None

    async def retry_loop() -> None:
        for _ in range(3):
            try:
                await client_call()
            except ConnectionError:
                seen.append(cancellation_pending())
                if seen[-1]:
                    raise asyncio.CancelledError from None

    assert cancellation_pending() is False  # nobody asked this test's task to stop
    loop_task = asyncio.create_task(retry_loop())
    await asyncio.sleep(0.05)
    loop_task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(loop_task, 2)  # without the check it would sleep 3 x 10 s
    assert seen == [True]


PARENT = textwrap.dedent("""
    import sys, time
    from agent.hubproc import serve_build_dir
    with serve_build_dir(None) as url:
        print(url, flush=True)
        time.sleep(600)
""")


def test_child_hub_never_outlives_a_collector_killed_with_sigkill():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        url = parent.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        (hub,) = psutil.Process(parent.pid).children()
        assert httpx2.get(f"{url}/health").status_code == 200
        os.kill(parent.pid, signal.SIGKILL)  # no cleanup code of the parent runs
        parent.wait(timeout=30)
        gone, alive = psutil.wait_procs([hub], timeout=60)
        assert hub in gone and not alive, "the child hub outlived its parent"
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(f"{url}/health", timeout=5)
    finally:
        if parent.poll() is None:
            parent.kill()
