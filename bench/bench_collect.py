"""Benchmark `agent` collection throughput against a real hub running in a subprocess.

Scenarios: the scripted policy with zero model latency (SDK client vs the fast 2026-07-28
client), and with a simulated 200 ms model latency per turn at 100 / 500 / 2,000 episodes in
flight. Reports episodes/s, errors, pass rate, hub CPU ms per episode (psutil on the hub
process), collector CPU ms per episode, and the ideal bound in_flight / (turns x latency).

    .venv/bin/python bench/bench_collect.py [--quick] [--out /tmp/bench.md]   # ~5 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2
import psutil
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.engine import EngineConfig, shared_http_client  # noqa: E402
from agent.hubclient import HubClient  # noqa: E402
from agent.hubproc import free_port  # noqa: E402
from agent.mcpclient import FastConnection  # noqa: E402
from agent.run import collect_to_file  # noqa: E402
from agent.settings import PolicySettings  # noqa: E402
from contracts import TaskSpec  # noqa: E402

TEMPLATES = [
    ("read", "What is the status of my order O-1002?", ["pending"], [("get_order", {"order_id": "O-1002"})]),
    ("write", "Cancel order O-1002, I found it cheaper.", [],
     [("get_order", {"order_id": "O-1002"}), ("cancel_order", {"order_id": "O-1002", "reason": "cheaper"})]),
    ("read", "Which email do you have for C-1001?", ["ava.nguyen@example.com"],
     [("get_customer", {"customer_id": "C-1001"})]),
    ("write", "Ship order O-1002 to 9 Elm Road.", [],
     [("update_shipping_address", {"order_id": "O-1002", "shipping_address": "9 Elm Road"})]),
]

HUB_LAUNCHER = """
import sys, uvicorn
from pathlib import Path
from hub.hosting import HubConfig, create_app
app = create_app(HubConfig(build_dir=Path(sys.argv[1]), max_live_episodes=50_000))
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="error", access_log=False, backlog=4096)
"""


def start_hub(build: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", HUB_LAUNCHER, str(build), str(port)], cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx2.get(url + "/health", timeout=1).status_code == 200:
                return proc, url
        except httpx2.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("hub did not start")


async def gold_hashes(url: str) -> list[str]:
    hashes = []
    async with shared_http_client(4, 30) as http:
        hub = HubClient(http, url)
        for _, _, _, calls in TEMPLATES:
            episode = await hub.create_episode("order-desk", None, None)
            conn = FastConnection(episode.mcp_url, http, 30)
            for name, args in calls:
                await conn.call_tool(name, args)
            hashes.append(await hub.state_hash(episode.episode_id))
            await hub.close_episode(episode.episode_id)
    return hashes


def make_tasks(n: int, hashes: list[str]) -> list[TaskSpec]:
    tasks = []
    for i in range(n):
        kind, goal, outputs, calls = TEMPLATES[i % len(TEMPLATES)]
        tasks.append(TaskSpec.model_validate({
            "task_id": f"bench-{i:06d}", "env": "order-desk", "kind": kind,
            "goal": goal, "user_facts": {}, "expected_outputs": outputs,
            "gold_calls": [{"name": c, "arguments": a} for c, a in calls],
            "gold_state_hash": hashes[i % len(TEMPLATES)], "initial_state": {"seed": None},
        }))
    return tasks


def run_scenario(url: str, hub_pid: int, hashes: list[str], episodes: int, in_flight: int, latency: float,
                 client: str, per_client: int, workdir: Path) -> dict:
    tasks = make_tasks(episodes, hashes)
    hub_proc = psutil.Process(hub_pid)
    hub_cpu0 = sum(hub_proc.cpu_times()[:2])
    me = psutil.Process()
    my_cpu0 = sum(me.cpu_times()[:2])
    out = workdir / f"bench-{client}-{in_flight}-{latency}.jsonl"
    config = EngineConfig(url=url, concurrency=in_flight, mcp_client=client, retries=3, call_timeout=120,
                          episode_timeout=900, connections_per_client=per_client)
    started = time.perf_counter()
    summary = asyncio.run(collect_to_file(tasks, config, PolicySettings(scripted_latency=latency), out,
                                          overwrite=True))
    wall = time.perf_counter() - started
    hub_cpu = sum(hub_proc.cpu_times()[:2]) - hub_cpu0
    my_cpu = sum(me.cpu_times()[:2]) - my_cpu0
    turns = sum(len(t.gold_calls) + 1 for t in tasks) / len(tasks)  # model turns per episode
    ideal = in_flight / (turns * latency) if latency else None
    rate = summary.done / wall
    return {"client": client, "conns_per_httpx": per_client or "all", "in_flight": in_flight, "latency_ms": int(latency * 1000), "episodes": episodes,
            "seconds": round(wall, 2), "episodes_per_s": round(rate, 1), "errors": summary.errors,
            "retries": summary.retries, "pass_rate": round(summary.passed / max(1, summary.done), 3),
            "hub_cpu_ms_per_ep": round(1000 * hub_cpu / episodes, 2),
            "collector_cpu_ms_per_ep": round(1000 * my_cpu / episodes, 2),
            # What two cores could do if they did nothing but this episode work (hub + collector CPU).
            "cpu_bound_eps": round((os.cpu_count() or 1) * episodes / (hub_cpu + my_cpu), 1),
            "ideal_eps": round(ideal, 1) if ideal else None,
            "of_ideal": round(rate / ideal, 3) if ideal else None}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs (smoke test)")
    parser.add_argument("--out", default=None, help="write the markdown table here")
    args = parser.parse_args()
    scale = 0.2 if args.quick else 1.0
    workdir = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    build = workdir / "build"
    (build / "envs").mkdir(parents=True)
    shutil.copy(REPO / "servers" / "examples" / "order-desk.json", build / "envs" / "order-desk.json")
    proc, url = start_hub(build)
    results = []
    try:
        hashes = asyncio.run(gold_hashes(url))
        # Runs are ~10 waves of the in-flight count long, so the ramp-up of the first wave and the
        # drain of the last one (when fewer than in_flight episodes remain) do not dominate.
        scenarios = [  # (episodes, in_flight, latency, client, connections per httpx2 client)
            (1000, 100, 0.0, "sdk", 16),
            (2000, 100, 0.0, "fast", 16),
            (2000, 100, 0.0, "fast", 0),  # baseline: one httpx2 client for the whole pool
            (3000, 100, 0.2, "fast", 16),
            (5000, 500, 0.2, "fast", 16),
            (20000, 2000, 0.2, "fast", 16),
        ]
        for episodes, in_flight, latency, client, per_client in scenarios:
            result = run_scenario(url, proc.pid, hashes, max(in_flight, int(episodes * scale)), in_flight, latency,
                                  client, per_client, workdir)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(workdir, ignore_errors=True)
    columns = list(results[0])
    table = Table(title=f"envhub collect throughput ({os.cpu_count()} cores, hub in a subprocess)")
    for col in columns:
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(*[str(r[c]) for c in columns])
    Console(width=200).print(table)
    if args.out:
        load = os.getloadavg()
        lines = [f"Machine: {os.cpu_count()} cores, load average at the end {load[0]:.1f} (shared with other jobs).",
                 "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in results]
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
