"""Desktop and stateless clients (docs/desktop-clients.md): the mcpServers snippet, stdio errors a
client can show, episodes kept across connections, and the documented example on the default build."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from synth.envs.synthesize import SynthSettings, synthesize
from tests.hubserver import running_hub

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "desktop-clients.md"
ENV = "order-desk"


@pytest.fixture(scope="module")
def default_build(tmp_path_factory) -> Path:
    """The default build, as `envhub synth --out build/` makes it."""
    out = tmp_path_factory.mktemp("build")
    synthesize(None, out, SynthSettings(seed=0, progress=False, workers=1))
    return out


@pytest.fixture(scope="module")
def hub_url(default_build):
    with running_hub(default_build) as url:
        yield url


def elsewhere(tmp_path: Path) -> Path:
    """A working directory that has nothing to do with the repository or the build."""
    folder = tmp_path / "somewhere" / "else"
    folder.mkdir(parents=True)
    return folder


def stdio(params: StdioServerParameters, tmp_path: Path) -> Client:
    # An explicit errlog: under pytest sys.stderr may be a capture object without a file descriptor.
    errlog = (tmp_path / "server-stderr.log").open("a")
    return Client(stdio_client(params, errlog=errlog))


def envhub_stdio(cwd: Path, *args: str) -> StdioServerParameters:
    """`envhub stdio ...` launched the way a desktop client does: minimal environment, its own folder."""
    return StdioServerParameters(command=sys.executable, args=["-m", "hub.cli", "stdio", *args],
                                 env={"PYTHONPATH": str(ROOT)}, cwd=str(cwd))


def mcp_error(raised: BaseException) -> MCPError:
    """The MCPError a client raised (the stdio client's task group may wrap it in exception groups)."""
    if isinstance(raised, MCPError):
        return raised
    if isinstance(raised, BaseExceptionGroup):
        for inner in raised.exceptions:
            with contextlib.suppress(LookupError):
                return mcp_error(inner)
    raise LookupError(f"no MCPError in {raised!r}")


def structured(result) -> dict:
    assert not result.is_error, result.content[0].text
    return result.structured_content


# -- the mcpServers snippet ---------------------------------------------------------------------


def mcp_config(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hub.cli", "mcp-config", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


async def test_printed_snippet_launches_from_another_folder(default_build, tmp_path):
    # Asked from inside the build's parent with a relative path, as a user would type it...
    printed = mcp_config(default_build.parent, default_build.name, ENV, "--prefix", "envhub-")
    assert printed.returncode == 0, printed.stderr
    entry = json.loads(printed.stdout)["mcpServers"]["envhub-order-desk"]
    assert Path(entry["command"]).is_absolute() and str(default_build) in entry["args"]
    # ...and launched by a client from somewhere else, with only the variables the snippet names.
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=entry.get("env"),
                                   cwd=str(elsewhere(tmp_path)))
    async with stdio(params, tmp_path) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert {"cancel_order", "get_customer"} <= tools
        customer = structured(await client.call_tool("get_customer", {"customer_id": "CUS-1001"}))
        assert customer["customer_id"] == "CUS-1001" and customer["name"]


def test_snippet_lists_every_environment_and_names_unknown_ones(default_build, tmp_path):
    printed = mcp_config(tmp_path, str(default_build), "--episode-dir", "eps")
    servers = json.loads(printed.stdout)["mcpServers"]
    assert len(servers) == len(list((default_build / "envs").glob("*.json")))
    assert servers[ENV]["args"][-2:] == ["--episode-file", str(tmp_path / "eps" / f"{ENV}.sqlite")]
    unknown = mcp_config(tmp_path, str(default_build), "no-such-env")
    assert unknown.returncode == 2 and "no-such-env" in unknown.stderr and ENV in unknown.stderr


# -- errors the client shows ----------------------------------------------------------------------


async def test_missing_build_is_an_error_the_client_shows(tmp_path):
    cwd = elsewhere(tmp_path)
    with pytest.raises(BaseException) as raised:
        async with stdio(envhub_stdio(cwd, "build", ENV), tmp_path) as client:
            await client.list_tools()
    message = str(mcp_error(raised.value))
    assert f"{cwd / 'build'}: no such build folder" in message and "use an absolute path" in message
    assert "no such build folder" in (tmp_path / "server-stderr.log").read_text()


async def test_unknown_environment_is_an_error_the_client_shows(default_build, tmp_path):
    with pytest.raises(BaseException) as raised:
        async with stdio(envhub_stdio(elsewhere(tmp_path), str(default_build), "orders"), tmp_path) as client:
            await client.list_tools()
    message = str(mcp_error(raised.value))
    assert "no such environment 'orders'" in message and ENV in message


def test_startup_error_answers_every_request_until_the_client_closes(tmp_path):
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": "two", "method": "tools/list"},
    ]
    done = subprocess.run([sys.executable, "-m", "hub.cli", "stdio", "missing-build", ENV],
                          input="\n".join(json.dumps(r) for r in requests) + "\n", capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["id"] for r in replies] == [1, "two"]  # the notification gets no answer
    assert all("no such build folder" in r["error"]["message"] for r in replies)
    assert done.returncode == 2 and "no such build folder" in done.stderr


# -- one episode across connections ---------------------------------------------------------------


async def test_episode_file_keeps_one_episode_across_processes(default_build, tmp_path):
    episode_file = tmp_path / "episodes" / "orders.sqlite"
    launch = envhub_stdio(elsewhere(tmp_path), str(default_build), ENV, "--episode-file", str(episode_file))
    async with stdio(launch, tmp_path) as client:  # one process per call, as the Inspector CLI does
        structured(await client.call_tool("cancel_order", {"order_id": "ORD-1003", "cancel_reason": "late"}))
    async with stdio(launch, tmp_path) as client:
        assert structured(await client.call_tool("get_order", {"order_id": "ORD-1003"}))["status"] == "cancelled"
    # Without the file every process starts over: the change above is not in a fresh one.
    fresh = envhub_stdio(elsewhere(tmp_path / "x"), str(default_build), ENV)
    async with stdio(fresh, tmp_path) as client:
        assert structured(await client.call_tool("get_order", {"order_id": "ORD-1003"}))["status"] == "confirmed"


async def test_processes_calling_at_once_on_one_episode_file_lose_nothing(default_build, tmp_path):
    """Parallel tool calls of a client that starts a process per call: each call sees the others' writes."""
    episode_file = tmp_path / "orders.sqlite"
    launch = envhub_stdio(elsewhere(tmp_path), str(default_build), ENV, "--episode-file", str(episode_file))

    async def keep_updating(customer_id: str) -> None:
        async with stdio(launch, tmp_path) as client:
            for i in range(6):
                structured(await client.call_tool("update_customer",
                                                  {"customer_id": customer_id, "phone": f"+1-555-{i:04d}"}))

    async with anyio.create_task_group() as group:
        for customer_id in ("CUS-1001", "CUS-1002", "CUS-1003"):
            group.start_soon(keep_updating, customer_id)
    async with stdio(launch, tmp_path) as client:
        for customer_id in ("CUS-1001", "CUS-1002", "CUS-1003"):
            customer = structured(await client.call_tool("get_customer", {"customer_id": customer_id}))
            assert customer["phone"] == "+1-555-0005", customer_id


async def call_on_new_connection(url: str, tool: str, arguments: dict, *, mode: str, headers: dict | None = None,
                                 meta: dict | None = None) -> dict:
    async with (httpx2.AsyncClient(headers=headers or {}, timeout=30) as http,
                Client(streamable_http_client(url, http_client=http), mode=mode) as client):
        return structured(await client.call_tool(tool, arguments, meta=meta))


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize("way", ["episode-url", "header", "meta"])
async def test_a_client_that_reconnects_per_call_keeps_its_episode(hub_url, way, mode):
    episode = httpx2.post(f"{hub_url}/envs/{ENV}/episodes", json={}).json()
    env_url = f"{hub_url}/envs/{ENV}/mcp"
    address = {
        "episode-url": {"url": episode["mcp_url"]},
        "header": {"url": env_url, "headers": {"X-Episode-Id": episode["episode_id"]}},
        "meta": {"url": env_url, "meta": {"envhub/episode": episode["episode_id"]}},
    }[way]
    await call_on_new_connection(tool="update_customer", arguments={"customer_id": "CUS-1001", "phone": "+1-555-0199"},
                                 mode=mode, **address)
    customer = await call_on_new_connection(tool="get_customer", arguments={"customer_id": "CUS-1001"},
                                            mode=mode, **address)
    assert customer["phone"] == "+1-555-0199"


async def test_without_a_selector_a_legacy_client_gets_a_new_episode_per_connection(hub_url):
    """The behaviour the table in docs/desktop-clients.md exists for."""
    env_url = f"{hub_url}/envs/{ENV}/mcp"
    await call_on_new_connection(env_url, "update_customer", {"customer_id": "CUS-1001", "phone": "+1-555-0142"},
                                 mode="legacy")
    customer = await call_on_new_connection(env_url, "get_customer", {"customer_id": "CUS-1001"}, mode="legacy")
    assert customer["phone"] != "+1-555-0142"


# -- the documented example -----------------------------------------------------------------------


def documented_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## An example on the default build"):]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "docs/desktop-clients.md lost its example"
    return match.group(1)


def test_documented_example_runs_on_the_default_build(hub_url, tmp_path):
    code = documented_example()
    assert 'HUB = "http://127.0.0.1:8000"' in code
    script = tmp_path / "example.py"
    script.write_text(code.replace('HUB = "http://127.0.0.1:8000"', f'HUB = "{hub_url}"'), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "status: cancelled" in done.stdout and "state hash: sha256:" in done.stdout
    assert "'orders': {" in done.stdout and "'updated': [{" in done.stdout
