"""Regression tests for issue 13 (hardening the hub): each reproduces a defect, then checks the fix.

1 silent state reset of legacy MCP sessions; 2 body limit on bytes actually read; 3 one auth
layer for every start-up path; 4 bounded resources; 5 strict JSON numbers; 6 noise and dead ends
(the collector's part is in tests/test_agent_hardening.py).
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from hub.hosting import HubConfig, HubConfigError, create_app
from tests.hubserver import free_port, running_hub, serving

ENV = "order-desk"
REPO = Path(__file__).resolve().parents[1]
MODERN = "2026-07-28"


def new_episode(url: str, env: str = ENV, headers: dict | None = None) -> dict:
    response = httpx2.post(f"{url}/envs/{env}/episodes", json={}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def live_episodes(url: str) -> int:
    return httpx2.get(f"{url}/health").json()["live_episodes"]


def result_json(result) -> dict:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def raw_tool_call(mcp_url: str, arguments_json: str, tool: str) -> httpx2.Response:
    """A 2026-07-28 tools/call whose arguments are written by hand: JSON the SDK client cannot produce."""
    meta = json.dumps({"io.modelcontextprotocol/protocolVersion": MODERN,
                       "io.modelcontextprotocol/clientInfo": {"name": "t", "version": "1"},
                       "io.modelcontextprotocol/clientCapabilities": {}})
    body = (f'{{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {{"name": "{tool}", '
            f'"arguments": {arguments_json}, "_meta": {meta}}}}}')
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json",
               "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": tool}
    return httpx2.post(mcp_url, content=body.encode("utf-8", "surrogatepass"), headers=headers, timeout=30)


def raw_http(port: int, data: bytes, read_until_close: bool = True, timeout: float = 20.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while read_until_close:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def describe(err: BaseException) -> str:
    if isinstance(err, BaseExceptionGroup):
        return "; ".join(describe(sub) for sub in err.exceptions)
    return f"{type(err).__name__}: {err}" + (f" <- {describe(err.__context__)}" if err.__context__ else "")


def send_until_answered(port: int, head: bytes, chunks, timeout: float = 20.0) -> bytes:
    """Send `head`, then `chunks` until the server answers; returns everything it sent back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head)
        answer = b""
        for chunk in chunks:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass  # the server closed with our unread upload still queued; what it sent first is kept
        return answer


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


class ErrorRecords(logging.Handler):
    """Collects ERROR records from the root logger and uvicorn's (which do not propagate)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.records.append(record)

    def attach(self) -> None:
        """Call once the server runs: uvicorn's logging set-up replaces the handlers of its loggers."""
        for name in ("", "uvicorn", "uvicorn.error"):
            logging.getLogger(name).addHandler(self)

    def detach(self) -> None:
        for name in ("", "uvicorn", "uvicorn.error"):
            logging.getLogger(name).removeHandler(self)

    def messages(self) -> list[str]:
        return [record.getMessage() for record in self.records]


@pytest.fixture
def error_logs():
    collector = ErrorRecords()
    try:
        yield collector
    finally:
        collector.detach()


# ---------------------------------------------------------------------------------------------
# 1. Silent state reset
# ---------------------------------------------------------------------------------------------


async def test_legacy_session_whose_episode_expired_is_told_so_instead_of_getting_a_fresh_one():
    # Reproduction: a legacy client updates a customer, idles past the TTL, and reads the
    # customer back on the same Mcp-Session-Id. It used to get the seed phone with isError false.
    with running_hub(episode_ttl_seconds=1, expiry_interval_seconds=0.05) as url:
        async with Client(f"{url}/envs/{ENV}/mcp", mode="legacy") as client:
            updated = result_json(await client.call_tool(
                "update_customer_contact", {"customer_id": "C-1001", "phone": "+1 555 0100"}))
            assert updated["phone"] == "+1 555 0100"
            diff = json.loads((await client.read_resource("envhub://episode/diff")).contents[0].text)
            episode_id = diff["episode_id"]
            while live_episodes(url):  # (reading the episode's state would keep it alive)
                await anyio.sleep(0.1)
            with pytest.raises(MCPError) as err:
                await client.call_tool("get_customer", {"customer_id": "C-1001"})
            message = str(err.value)
            assert f"episode '{episode_id}' expired after 1 s idle" in message
            assert "start a new MCP session" in message
            assert live_episodes(url) == 0  # no fresh episode was made up behind the client's back
            # ... and asking again says the same, it does not fall back to a new episode either.
            with pytest.raises(MCPError, match="expired"):
                await client.call_tool("get_customer", {"customer_id": "C-1001"})
        assert live_episodes(url) == 0


def _legacy_post(url: str, body: dict, session_id: str | None = None) -> httpx2.Response:
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    if session_id:
        headers["mcp-session-id"] = session_id
        headers["mcp-protocol-version"] = "2025-11-25"
    return httpx2.post(url, json=body, headers=headers, timeout=30)


def _open_legacy_session(url: str) -> str:
    """A 2025-11-25 session over plain HTTP, with no GET stream (so the SDK may reap it when idle)."""
    init = _legacy_post(url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
    assert init.status_code == 200, init.text
    session_id = init.headers["mcp-session-id"]
    assert _legacy_post(url, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session_id).status_code == 202
    return session_id


def test_legacy_session_reaped_by_the_sdk_idle_timeout_releases_its_episode():
    app = create_app(HubConfig(episode_ttl_seconds=600))
    endpoints = app.state.endpoints
    endpoints._session_idle_timeout = 0.5  # sessions idle out long before episodes would expire
    with serving(app) as url:
        mcp_url = f"{url}/envs/{ENV}/mcp"
        session_id = _open_legacy_session(mcp_url)
        call = _legacy_post(mcp_url, {"jsonrpc": "2.0", "id": 2, "method": "resources/read",
                                      "params": {"uri": "envhub://episode/diff"}}, session_id)
        episode_id = json.loads(call.json()["result"]["contents"][0]["text"])["episode_id"]
        assert live_episodes(url) == 1 and endpoints.legacy_sessions == 1
        while endpoints.legacy_sessions:  # the SDK reaps the idle session ...
            time.sleep(0.05)
        # ... and the hub closed its episode with it, 600 s before the TTL would have.
        assert live_episodes(url) == 0
        gone = httpx2.get(f"{url}/episodes/{episode_id}/state")
        assert gone.status_code == 404 and "was closed" in gone.json()["error"]


# ---------------------------------------------------------------------------------------------
# 2. Body limit on bytes read
# ---------------------------------------------------------------------------------------------


def _lying_chunked_request(path: str, total: int) -> tuple[bytes, list[bytes]]:
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    chunk = b"x" * 65536
    return head, [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (total // len(chunk)) + [b"0\r\n\r\n"]


@pytest.mark.parametrize("path", ["/envs/order-desk/episodes", "/envs/order-desk/mcp"])
def test_chunked_body_behind_a_small_content_length_is_counted(path):
    # Reproduction: Content-Length: 2 plus Transfer-Encoding: chunked was read whole (200 MB).
    with running_hub(max_body_bytes=4096) as url:
        head, chunks = _lying_chunked_request(path, 64 * 1024 * 1024)
        answer = send_until_answered(port_of(url), head, chunks)
        status_line, _, rest = answer.partition(b"\r\n")
        assert b" 413 " in status_line, answer[:300]
        body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
        message = body["error"]["message"] if path.endswith("/mcp") else body["error"]
        assert "4096 bytes" in message
        assert live_episodes(url) == 0


def test_plain_chunked_body_over_the_limit_is_refused_and_under_it_served():
    with running_hub(max_body_bytes=4096) as url:
        def chunks(size: int):
            yield b"{" + b" " * (size - 2) + b"}"

        too_big = httpx2.post(f"{url}/envs/{ENV}/episodes", content=chunks(8192))
        assert too_big.status_code == 413
        fine = httpx2.post(f"{url}/envs/{ENV}/episodes", content=chunks(1000))
        assert fine.status_code == 201, fine.text


# ---------------------------------------------------------------------------------------------
# 3. One auth layer for every start-up path
# ---------------------------------------------------------------------------------------------


async def _asgi_call(app, path: str, server: tuple | None, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": headers, "server": server,
             "client": ("203.0.113.9", 5555), "query_string": b"", "scheme": "http", "root_path": ""}
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body)


async def test_without_a_token_only_requests_arriving_on_loopback_are_served():
    from hub.hosting.gate import HubGate

    async def inner(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    # A hub started without a token whose server was bound to a public address (as with
    # `uvicorn --factory hub.app:create_app --host 0.0.0.0`, which the app cannot see):
    gate = HubGate(inner, HubConfig())
    spoofed = [(b"host", b"localhost")]
    status, body = await _asgi_call(gate, "/envs", ("192.0.2.10", 8000), spoofed)
    assert status == 403 and "no bearer token" in body["error"] and "192.0.2.10:8000" in body["error"]
    status, body = await _asgi_call(gate, f"/envs/{ENV}/mcp", ("192.0.2.10", 8000), spoofed)
    assert status == 403 and body["jsonrpc"] == "2.0" and "no bearer token" in body["error"]["message"]
    status, _ = await _asgi_call(gate, "/envs", None, spoofed)  # cannot tell where: refused
    assert status == 403
    assert (await _asgi_call(gate, "/envs", ("127.0.0.1", 8000), spoofed))[0] == 200
    assert (await _asgi_call(gate, "/envs", ("::ffff:127.0.0.1", 8000), spoofed))[0] == 200
    assert (await _asgi_call(gate, "/envs", ("/run/envhub.sock", None), spoofed))[0] == 200
    # With a token, a public socket is served to whoever has it, whatever the Host header.
    guarded = HubGate(inner, HubConfig(token="tok"))
    authorized = [(b"host", b"hub.example"), (b"authorization", b"Bearer tok")]
    assert (await _asgi_call(guarded, "/envs", ("192.0.2.10", 8000), authorized))[0] == 200
    assert (await _asgi_call(guarded, "/envs", ("192.0.2.10", 8000), [(b"host", b"localhost")]))[0] == 401


def _uvicorn_factory(port: int, env: dict[str, str], *extra: str) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ENVHUB_")}
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "hub.app:create_app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", *extra],
        env={**clean, "PYTHONPATH": str(REPO), **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        cwd=REPO,
    )


def _wait_for_health(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
        try:
            if httpx2.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("the factory app did not come up")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_factory_refuses_a_public_address_without_a_token():
    proc = _uvicorn_factory(free_port(), {"ENVHUB_HOST": "0.0.0.0"})
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"refusing to listen on '0.0.0.0' without a bearer token" in output


def test_factory_app_goes_through_the_same_gate_and_limits():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _uvicorn_factory(port, {"ENVHUB_TOKEN": "tok", "ENVHUB_MAX_BODY_BYTES": "2048",
                                   "ENVHUB_READ_TIMEOUT": "1"},
                            "--http", "hub.hosting.protocol:HubH11Protocol")
    try:
        _wait_for_health(url, proc)
        auth = {"Authorization": "Bearer tok"}
        assert httpx2.get(f"{url}/envs").status_code == 401
        assert httpx2.get(f"{url}/envs", headers={"Host": "localhost"}).status_code == 401
        assert httpx2.get(f"{url}/envs", headers=auth).status_code == 200
        assert new_episode(url, headers=auth)["env"] == ENV
        big = httpx2.post(f"{url}/envs/{ENV}/episodes", headers=auth, content=b"{" + b" " * 4096 + b"}")
        assert big.status_code == 413 and "2048 bytes" in big.json()["error"]
        # A connection that never completes its headers is closed (ENVHUB_READ_TIMEOUT=1).
        assert raw_http(port, b"GET /envs HTTP/1.1\r\nHost: 127.0.0.1\r\n") == b""
    finally:
        _stop(proc)


def test_factory_settings_are_checked():
    with pytest.raises(HubConfigError, match="ENVHUB_MAX_EPISODES='many': expected a whole number"):
        HubConfig.from_env({"ENVHUB_MAX_EPISODES": "many"})
    config = HubConfig.from_env({"ENVHUB_TOKEN": "t", "ENVHUB_HOST": "0.0.0.0", "ENVHUB_ALLOWED_HOSTS": "a.example, b"})
    assert config.allowed_hosts == ("a.example", "b") and config.token == "t"


# ---------------------------------------------------------------------------------------------
# 4. Bounded resources
# ---------------------------------------------------------------------------------------------


async def test_a_write_beyond_the_episode_size_budget_fails_and_changes_nothing():
    with running_hub(max_episode_bytes=256 * 1024) as url:
        episode = new_episode(url)
        address = "x" * 60_000
        async with Client(episode["mcp_url"]) as client:
            refused = None
            for _ in range(20):
                before = httpx2.get(f"{url}/episodes/{episode['episode_id']}/state").json()
                result = await client.call_tool("place_order", {
                    "customer_id": "C-1001", "product_id": "P-1005", "quantity": 1, "shipping_address": address})
                if result.is_error:
                    refused = result.content[0].text
                    break
            assert refused is not None, "the episode grew without limit"
            assert "size budget of 262144 bytes" in refused and "nothing was changed" in refused
            after = httpx2.get(f"{url}/episodes/{episode['episode_id']}/state").json()
            assert after["state_hash"] == before["state_hash"] and after["row_counts"] == before["row_counts"]
            # Still usable: reads work and small writes fit.
            assert not (await client.call_tool("get_customer", {"customer_id": "C-1001"})).is_error
        fork = httpx2.post(f"{url}/episodes/{episode['episode_id']}/fork")
        assert fork.status_code == 201
        async with Client(fork.json()["mcp_url"]) as client:  # a fork has the same budget
            result = await client.call_tool("place_order", {
                "customer_id": "C-1001", "product_id": "P-1005", "quantity": 1, "shipping_address": address})
            assert result.is_error and "size budget" in result.content[0].text


def test_snapshot_budgets_count_and_bytes():
    with running_hub(max_snapshots_per_episode=2) as url:
        episode_id = new_episode(url)["episode_id"]
        for _ in range(2):
            assert httpx2.post(f"{url}/episodes/{episode_id}/snapshot").status_code == 201
        third = httpx2.post(f"{url}/episodes/{episode_id}/snapshot")
        assert third.status_code == 409 and "2 snapshots (the limit)" in third.json()["error"]
    with running_hub(max_snapshot_bytes=100_000) as url:  # an order-desk episode is ~40 KB
        episode_id = new_episode(url)["episode_id"]
        assert httpx2.post(f"{url}/episodes/{episode_id}/snapshot").status_code == 201
        assert httpx2.post(f"{url}/episodes/{episode_id}/snapshot").status_code == 201
        third = httpx2.post(f"{url}/episodes/{episode_id}/snapshot")
        assert third.status_code == 409 and "over the limit of 100000 bytes" in third.json()["error"]


def test_forks_count_against_the_episode_cap():
    with running_hub(max_live_episodes=2) as url:
        episode_id = new_episode(url)["episode_id"]
        assert httpx2.post(f"{url}/episodes/{episode_id}/fork").status_code == 201
        refused = httpx2.post(f"{url}/episodes/{episode_id}/fork")
        assert refused.status_code == 429 and "cap of 2" in refused.json()["error"]


async def test_legacy_sessions_count_against_max_episodes():
    # Reproduction: 2,000 legacy sessions raised RSS with live_episodes 0 and no cap applying.
    with running_hub(max_live_episodes=2) as url:
        mcp_url = f"{url}/envs/{ENV}/mcp"
        async with Client(mcp_url, mode="legacy") as one, Client(mcp_url, mode="legacy") as two:
            assert (await one.list_tools()).tools and (await two.list_tools()).tools
            assert live_episodes(url) == 0
            refused = httpx2.post(f"{url}/envs/{ENV}/episodes", json={})
            assert refused.status_code == 429 and "open MCP sessions count too" in refused.json()["error"]
            third = _legacy_post(mcp_url, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
            assert third.status_code == 429 and "cap of 2" in third.json()["error"]["message"]
            # A session's first tool call turns its reservation into its episode: still two in all.
            result_json(await one.call_tool("get_order", {"order_id": "O-1001"}))
            assert live_episodes(url) == 1
        assert live_episodes(url) == 0
        assert new_episode(url)["env"] == ENV  # the ended sessions gave their slots back


def test_half_sent_requests_are_dropped():
    from agent.hubproc import serve_build_dir

    # Reproduction: 451 half-sent requests were held open 40 s and more.
    with serve_build_dir(None, extra_args=["--request-read-timeout", "1"]) as url:
        port = port_of(url)
        assert raw_http(port, b"") == b""  # connected, sent nothing
        assert raw_http(port, b"POST /envs/order-desk/episodes HTTP/1.1\r\nHost: 127.0.0") == b""
        answer = raw_http(port, b"POST /envs/order-desk/episodes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"seed\"")
        assert answer.startswith(b"HTTP/1.1 408 ") and b"not received within 1 s" in answer
        assert httpx2.get(f"{url}/health").json()["live_episodes"] == 0


# ---------------------------------------------------------------------------------------------
# 5. Strict JSON numbers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("arguments", "expected"), [
    ('{"account_id": "AC-1001", "amount": 1e999}', "argument 'amount': Infinity is not a JSON number"),
    ('{"account_id": "AC-1001", "amount": Infinity}', "argument 'amount': Infinity is not a JSON number"),
    ('{"account_id": "AC-1001", "amount": -Infinity}', "argument 'amount': -Infinity is not a JSON number"),
    ('{"account_id": "AC-1001", "amount": NaN}', "argument 'amount': NaN is not a JSON number"),
])
def test_non_finite_numbers_are_refused_before_anything_runs(arguments, expected, error_logs):
    with running_hub() as url:
        error_logs.attach()
        episode = new_episode(url, "bank-desk")
        response = raw_tool_call(episode["mcp_url"], arguments, "deposit")
        result = response.json()["result"]
        assert result["isError"] is True and expected in result["content"][0]["text"]
        state = httpx2.get(f"{url}/episodes/{episode['episode_id']}/state").json()
        assert state["state_hash"] == episode["state_hash"]
    assert not error_logs.messages()


@pytest.mark.parametrize(("arguments", "expected"), [
    ('{"customer_id": "C-1001", "product_id": "P-1005", "shipping_address": "1 Main St", "quantity": '
     + str(2**70) + "}",
     "argument 'quantity': 1180591620717411303424 is outside the integer range"),
    ('{"customer_id": "C-1001", "product_id": "P-1005", "shipping_address": "1 Main St", "quantity": 1e300}',
     "argument 'quantity': 1e+300 is outside the integer range"),
    ('{"customer_id": "C-1001", "product_id": "P-1005", "quantity": 1, "shipping_address": "a\\ud800b"}',
     "argument 'shipping_address' contains an unpaired surrogate (U+D800) at character 1"),
])
def test_out_of_range_integers_and_lone_surrogates_are_validation_errors(arguments, expected, error_logs, tmp_path):
    # As synthesized specs do, place_order here puts no maximum on quantity (the example's is 50).
    source = (REPO / "servers" / "examples" / "order-desk.json").read_text()
    assert source.count('"maximum": 50,') == 1
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "order-desk.json").write_text(source.replace('"maximum": 50,', ""))
    with running_hub(tmp_path) as url:
        error_logs.attach()
        episode = new_episode(url)
        result = raw_tool_call(episode["mcp_url"], arguments, "place_order").json()["result"]
        text = result["content"][0]["text"]
        assert result["isError"] is True and expected in text and "internal error" not in text
    assert not error_logs.messages()  # no traceback logged


def test_integral_floats_are_integers_for_schema_and_executor_alike():
    with running_hub() as url:
        episode = new_episode(url)
        result = raw_tool_call(episode["mcp_url"], '{"limit": 2.0}', "find_customers").json()["result"]
        assert result["isError"] is False, result
        assert json.loads(result["content"][0]["text"])["count"] == 2
        placed = raw_tool_call(episode["mcp_url"], '{"customer_id": "C-1001", "product_id": "P-1005", '
                                                   '"quantity": 3.0, "shipping_address": "1 Main St"}',
                               "place_order").json()["result"]
        assert placed["isError"] is False, placed
        rows = httpx2.get(f"{url}/episodes/{episode['episode_id']}/state", params={"rows": 1}).json()["rows"]
        assert max(rows["order_items"], key=lambda r: r["item_id"])["quantity"] == 3
        fractional = raw_tool_call(episode["mcp_url"], '{"limit": 2.5}', "find_customers").json()["result"]
        assert fractional["isError"] is True and "limit" in fractional["content"][0]["text"]


def test_tool_text_stays_json_and_arithmetic_overflow_is_refused():
    from servers.executor import ToolOutcome

    text = ToolOutcome(ok=True, data={"a": float("inf"), "b": [float("nan"), 1.5]}).to_text()
    assert json.loads(text) == {"a": None, "b": [None, 1.5]}
    with running_hub() as url:
        episode = new_episode(url, "bank-desk")
        # A finite amount whose balance arithmetic overflows a double must not store Infinity.
        response = raw_tool_call(episode["mcp_url"], '{"account_id": "AC-1001", "amount": 1.7e308}', "deposit")
        first = response.json()["result"]
        if not first["isError"]:
            second = raw_tool_call(episode["mcp_url"], '{"account_id": "AC-1001", "amount": 1.7e308}',
                                   "deposit").json()["result"]
            assert second["isError"] is True and "too large to store" in second["content"][0]["text"]
        rows = httpx2.get(f"{url}/episodes/{episode['episode_id']}/state", params={"rows": 1}).json()["rows"]
        assert all(row["balance"] is not None for row in rows["accounts"])


# ---------------------------------------------------------------------------------------------
# 6. Noise and dead ends (hub side)
# ---------------------------------------------------------------------------------------------


def test_client_disconnecting_mid_upload_logs_no_traceback(error_logs):
    with running_hub() as url:
        error_logs.attach()
        port = port_of(url)
        for path in ("/envs/order-desk/episodes", "/envs/order-desk/mcp"):
            head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: 5000\r\n\r\n{\"seed\": ").encode()
            raw_http(port, head, read_until_close=False)
        # The hub notices the disconnects on its own schedule; wait until it has served us again
        # and given it a moment, then check nothing was logged as an error.
        time.sleep(0.5)
        assert httpx2.get(f"{url}/health").status_code == 200
        time.sleep(0.2)
    # Reproduction: "Exception in ASGI application ... ClientDisconnect" for every such client.
    assert not error_logs.messages(), error_logs.messages()


def test_method_not_allowed_says_what_is():
    with running_hub() as url:
        response = httpx2.put(f"{url}/envs")
        assert response.status_code == 405 and set(response.headers["allow"].split(", ")) == {"GET", "HEAD"}
        assert "error" in response.json()
        response = httpx2.get(f"{url}/envs/{ENV}/episodes")
        assert response.status_code == 405 and response.headers["allow"] == "POST"


async def test_missing_token_on_mcp_routes_is_a_json_rpc_error_the_client_shows():
    with running_hub(token="tok") as url:
        episode = new_episode(url, headers={"Authorization": "Bearer tok"})
        async with httpx2.AsyncClient(timeout=30) as http:
            # Reproduction: the SDK client showed only "Server returned an error response".
            with pytest.raises(Exception) as err:
                async with Client(streamable_http_client(episode["mcp_url"], http_client=http)) as client:
                    await client.call_tool("get_order", {"order_id": "O-1001"})
            assert "missing bearer token" in describe(err.value)
        raw = httpx2.post(episode["mcp_url"], json={})
        assert raw.status_code == 401 and raw.json()["error"]["message"] == "missing bearer token"
        rest = httpx2.get(f"{url}/envs")
        assert rest.status_code == 401 and rest.json() == {"error": "missing bearer token"}


async def test_after_a_restart_an_old_episode_is_unknown_not_expired():
    with running_hub() as url:
        episode = new_episode(url)
    with running_hub() as url:  # a new hub process knows nothing of the old one's episodes
        response = httpx2.get(f"{url}/episodes/{episode['episode_id']}/state")
        message = response.json()["error"]
        assert response.status_code == 404
        assert "unknown to this hub" in message and "lost when the hub restarted" in message
        assert "idle" not in message
        mcp_url = f"{url}/envs/{ENV}/episodes/{episode['episode_id']}/mcp"
        async with Client(mcp_url) as client:
            with pytest.raises(MCPError, match="unknown to this hub"):
                await client.call_tool("get_order", {"order_id": "O-1001"})
