"""Cost of durable episodes (`envhub serve --state-dir`) per call, against the in-memory hub, same run.

    .venv/bin/python bench/bench_durable.py [--calls 2000] [--hub-calls 1000] [--rounds 3] [--state-root DIR]

Part 1 (in process): a write call is `execute_tool` (validate, one transaction) plus the
`Episode.touch()` the MCP server runs after it. That is where a durable store writes the
episode's file. It is timed for databases of about 100 KiB, 1 MiB and 10 MiB, in memory, durable,
and durable with `--state-fsync`. A read call is timed in memory and durable too: it must not
write. Variants alternate round by round, so machine noise hits all of them.

Part 2 (real hubs): three `envhub serve` subprocesses on the built-in examples (memory, durable,
durable + fsync) get the same sequential 2026-07-28 `tools/call` POSTs. A write call is
`update_customer_contact` with a new phone each time; a read call is `get_order`. The table
gives the client-seen latency p50 and the hub's CPU time per call (psutil).

The state folders go under --state-root (default: the system temp folder). Say which disk that
is when quoting the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_episodes import synthetic_spec  # noqa: E402
from bench_serving import ServerProcess, create_episode, drive, free_port, new_client  # noqa: E402

from servers.durable import DurableEpisodes  # noqa: E402
from servers.executor import execute_tool  # noqa: E402
from servers.spec import EnvSpec, parse_envspec  # noqa: E402
from servers.state import EnvRuntime, EpisodeStore  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("memory", "durable", "durable+fsync")


def writable_spec(rows: int) -> EnvSpec:
    """bench_episodes' customers/orders environment plus a tool that changes one order's status."""
    data = synthetic_spec(rows).model_dump(mode="json", by_alias=True, exclude_none=True)
    data["tools"].append({
        "name": "set_status", "description": "Set an order's status.",
        "input_schema": {"type": "object", "required": ["order_id", "status"], "properties": {
            "order_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "paid", "shipped", "delivered"]}}},
        "operation": {"kind": "update", "table": "orders", "key": {"arg": "order_id"},
                      "set": {"status": {"arg": "status"}}},
    })
    return parse_envspec(data, origin="bench")


# ---------------------------------------------------------------------------------------------
# Part 1: one write call, in process
# ---------------------------------------------------------------------------------------------


def make_store(variant: str, runtime: EnvRuntime, state_root: Path) -> tuple[EpisodeStore, Path | None]:
    if variant == "memory":
        return EpisodeStore({runtime.name: runtime}), None
    folder = Path(tempfile.mkdtemp(prefix="bench-durable-", dir=state_root))
    journal = DurableEpisodes(folder, fsync=variant == "durable+fsync")
    return EpisodeStore({runtime.name: runtime}, journal=journal), folder


def time_calls(store: EpisodeStore, episode_id: str, rows: int, calls: int, *, write: bool, offset: int) -> list[float]:
    statuses = ("pending", "paid", "shipped", "delivered")
    samples = []
    for i in range(calls):
        key = f"O-{1001 + (offset + i) % rows}"
        start = time.perf_counter()
        episode = store.get(episode_id)  # what the hub's resolver does before a call
        if write:
            outcome = execute_tool(episode.runtime, episode.conn, "set_status",
                                   {"order_id": key, "status": statuses[(offset + i) % 4]})
        else:
            outcome = execute_tool(episode.runtime, episode.conn, "get_order", {"order_id": key})
        episode.touch()
        samples.append(time.perf_counter() - start)
        if not outcome.ok:
            raise RuntimeError(outcome.error)
    return samples


def part_store(args) -> list[dict]:
    results = []
    for label, rows, calls in (("~100 KiB", 800, args.calls), ("~1 MiB", 8_000, args.calls // 2),
                               ("~10 MiB", 91_000, max(20, args.calls // 20))):
        runtime = EnvRuntime(writable_spec(rows))
        db_bytes = len(runtime.template().data)
        stores = {v: make_store(v, runtime, args.state_root) for v in VARIANTS}
        episodes = {v: store.create(runtime.name).id for v, (store, _) in stores.items()}
        samples: dict[tuple[str, bool], list[float]] = {(v, w): [] for v in VARIANTS for w in (True, False)}
        for round_number in range(args.rounds):
            for variant in VARIANTS:
                store = stores[variant][0]
                for write in (True, False):
                    if variant == "durable+fsync" and not write:
                        continue  # reads write nothing: fsync is never reached
                    samples[(variant, write)] += time_calls(store, episodes[variant], rows, calls, write=write,
                                                            offset=round_number * calls)
        for store, folder in stores.values():
            store.close_all()
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        results.append({"label": label, "db_bytes": db_bytes, "calls": calls * args.rounds,
                        "p50": {k: statistics.median(v) for k, v in samples.items() if v}})
    return results


# ---------------------------------------------------------------------------------------------
# Part 2: real hubs over HTTP
# ---------------------------------------------------------------------------------------------


class Hub(ServerProcess):
    """`envhub serve` in memory, durable, or durable with fsync."""

    def __init__(self, variant: str, state_root: Path):
        port = free_port()
        command = [sys.executable, "-m", "hub.cli", "serve", "--port", str(port), "--log-level", "warning"]
        self.variant = variant
        self.folder = None
        if variant != "memory":
            self.folder = Path(tempfile.mkdtemp(prefix="bench-hub-", dir=state_root))
            command += ["--state-dir", str(self.folder)]
            if variant == "durable+fsync":
                command.append("--state-fsync")
        super().__init__(variant, port, command=command, quiet=True)

    async def wait_ready(self, client) -> None:  # type: ignore[override]
        await super().wait_ready(client, "/health")

    def stop(self) -> None:
        super().stop()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


async def part_hubs(args) -> dict:
    hubs = {v: Hub(v, args.state_root) for v in VARIANTS}
    client = new_client(1)
    try:
        for hub in hubs.values():
            await hub.wait_ready(client)
        urls = {v: (await create_episode(client, h.url, "order-desk"))["mcp_url"] for v, h in hubs.items()}
        latency: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        counter = 0
        for round_number in range(args.rounds + 1):  # round 0 warms up and is not counted
            for variant, hub in hubs.items():
                for kind in ("write", "read"):
                    jobs = []
                    for _ in range(args.hub_calls):
                        counter += 1
                        if kind == "write":
                            jobs.append((urls[variant], "update_customer_contact",
                                         {"customer_id": "C-1001", "phone": f"+1-555-{counter:07d}"}))
                        else:
                            jobs.append((urls[variant], "get_order", {"order_id": "O-1001"}))
                    before = hub.cpu_seconds()
                    result = await drive(client, jobs, 1)
                    spent = hub.cpu_seconds() - before
                    if result.errors:
                        raise RuntimeError(f"{variant} {kind}: {result.first_errors}")
                    if round_number:
                        latency.setdefault((variant, kind), []).extend(result.latencies)
                        cpu.setdefault((variant, kind), []).append(spent / result.calls)
        return {"latency": {k: statistics.median(v) for k, v in latency.items()},
                "cpu": {k: statistics.median(v) for k, v in cpu.items()},
                "calls": args.hub_calls * args.rounds}
    finally:
        await client.aclose()
        for hub in hubs.values():
            hub.stop()


# ---------------------------------------------------------------------------------------------


def table(store_results: list[dict], hub_results: dict) -> str:
    lines = [
        "Part 1, in process: one call = store.get + execute_tool + touch (p50, µs)",
        "",
        "| database | calls each | read: memory | read: durable | write: memory | write: durable | ratio "
        "| write: durable+fsync | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in store_results:
        p = r["p50"]
        wm, wd, wf = p[("memory", True)], p[("durable", True)], p[("durable+fsync", True)]
        lines.append(
            f"| {r['label']} ({r['db_bytes'] / 1024:,.0f} KiB) | {r['calls']:,} | {p[('memory', False)] * 1e6:,.0f} "
            f"| {p[('durable', False)] * 1e6:,.0f} | {wm * 1e6:,.0f} | {wd * 1e6:,.0f} | {wd / wm:.1f}x "
            f"| {wf * 1e6:,.0f} | {wf / wm:.1f}x |"
        )
    lat, cpu = hub_results["latency"], hub_results["cpu"]
    lines += [
        "",
        f"Part 2, real hubs (examples, order-desk 40 KiB), {hub_results['calls']:,} sequential calls each "
        "(p50 latency ms / hub CPU ms per call)",
        "",
        "| call | memory | durable | ratio | durable+fsync | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for kind in ("write", "read"):
        m, d, f = (lat[(v, kind)] * 1000 for v in VARIANTS)
        cm, cd, cf = (cpu[(v, kind)] * 1000 for v in VARIANTS)
        lines.append(f"| {kind} | {m:.2f} / {cm:.2f} | {d:.2f} / {cd:.2f} | {d / m:.2f}x / {cd / cm:.2f}x "
                     f"| {f:.2f} / {cf:.2f} | {f / m:.2f}x / {cf / cm:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="write/read calls per round, ~100 KiB database")
    parser.add_argument("--hub-calls", type=int, default=500, help="calls per round and variant against the hubs")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; variants alternate within each")
    parser.add_argument("--state-root", type=Path, default=Path(tempfile.gettempdir()),
                        help="where the state folders go (default: the system temp folder)")
    args = parser.parse_args(argv)
    args.state_root.mkdir(parents=True, exist_ok=True)
    store_results = part_store(args)
    hub_results = asyncio.run(part_hubs(args))
    print(table(store_results, hub_results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
