"""`envhub serve` / `envhub stdio` argument parsing, and the container files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
import yaml

from hub.commands import serve

ROOT = Path(__file__).resolve().parent.parent


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="envhub")
    serve.register(root.add_subparsers(dest="command", required=True))
    return root


def test_serve_defaults_and_options():
    args = parser().parse_args(["serve"])
    assert args.build_dir is None and args.host == "127.0.0.1" and args.port == 8000
    assert args.token is None and args.ttl == 900 and args.max_episodes == 20_000
    assert args.handler is serve.run_serve
    args = parser().parse_args([
        "serve", "build", "--host", "0.0.0.0", "--port", "9001", "--token", "t", "--ttl", "60",
        "--max-episodes", "50", "--log-level", "debug", "--allowed-host", "a.example", "--allowed-host", "b.example",
        "--max-body-bytes", "4096",
    ])
    assert args.build_dir == Path("build") and args.port == 9001 and args.token == "t" and args.ttl == 60
    assert args.max_episodes == 50 and args.log_level == "debug" and args.max_body_bytes == 4096
    assert args.allowed_hosts == ["a.example", "b.example"]


def test_stdio_parses():
    args = parser().parse_args(["stdio", "build", "order-desk", "--seed", "3"])
    assert args.build_dir == Path("build") and args.env == "order-desk" and args.seed == 3
    assert args.handler is serve.run_stdio_command
    with pytest.raises(SystemExit):
        parser().parse_args(["stdio", "build"])


def test_serve_refuses_public_bind_without_token(monkeypatch, capsys):
    monkeypatch.delenv(serve.TOKEN_ENV_VAR, raising=False)
    args = parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "1"])
    assert args.handler(args) == 2  # refused before binding anything
    assert "without a bearer token" in capsys.readouterr().err


def test_serve_reports_a_missing_build_folder(tmp_path, capsys):
    args = parser().parse_args(["serve", str(tmp_path / "nope")])
    assert args.handler(args) == 2
    assert "does not exist" in capsys.readouterr().err


def test_stdio_reports_an_unknown_environment(tmp_path, capsys):
    (tmp_path / "envs").mkdir()
    args = parser().parse_args(["stdio", str(tmp_path), "order-desk"])
    assert args.handler(args) == 2
    assert "no such environment 'order-desk'" in capsys.readouterr().err


async def test_stdio_serves_an_environment_of_a_build(tmp_path):
    from mcp import Client, StdioServerParameters, stdio_client

    from servers.examples import example_spec_paths

    envs = tmp_path / "envs"
    envs.mkdir()
    for path in example_spec_paths():
        # File names need not match environment names.
        (envs / f"copy-of-{path.name}").write_text(path.read_text())
    launcher = (
        "import argparse, sys; from hub.commands import serve; p = argparse.ArgumentParser(); "
        "serve.register(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.handler(a))"
    )
    params = StdioServerParameters(
        command=sys.executable, args=["-c", launcher, "stdio", str(tmp_path), "order-desk"], cwd=str(ROOT)
    )
    # An explicit errlog: the default is whatever sys.stderr was when mcp.client.stdio was imported,
    # which under pytest may be a capture object without a file descriptor.
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            assert "get_order" in tools
            await client.call_tool("cancel_order", {"order_id": "O-1002", "reason": "stdio"})
            result = await client.call_tool("get_order", {"order_id": "O-1002"})
            assert '"cancelled"' in result.content[0].text


def test_compose_file_has_a_hub_with_health_check():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    hub = compose["services"]["hub"]
    assert hub["build"]["dockerfile"] == "Dockerfile"
    assert any("/health" in part for part in hub["healthcheck"]["test"])
    assert "ENVHUB_TOKEN" in hub["environment"]
    assert any(v.endswith(":/build:ro") for v in hub["volumes"])
    assert any(p.endswith(":8000") for p in hub["ports"])
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile and 'ENTRYPOINT ["envhub"]' in dockerfile
