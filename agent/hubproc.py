"""Run a hub for the duration of a collection: `envhub serve BUILD_DIR` as a subprocess.

A subprocess (not an import) keeps agent/ free of hub code and gives the hub its own CPU.

The hub never outlives the process that started it, even one killed with SIGKILL (no cleanup code
runs then): it is started with `--exit-with-stdin` and its stdin is a pipe only we write to. When
we die the kernel closes our end, the hub reads end-of-file and shuts down. On Linux it also gets
PR_SET_PDEATHSIG, so it is sent SIGTERM at once if the starting thread dies before that.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def envhub_command() -> list[str]:
    exe = Path(sys.executable).with_name("envhub")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("envhub")
    return [found] if found else [sys.executable, "-m", "hub.cli"]


@contextlib.contextmanager
def serve_build_dir(build_dir: str | Path | None, token: str | None = None, port: int | None = None,
                    startup_timeout: float = 90.0, extra_args: list[str] | None = None) -> Iterator[str]:
    """Start `envhub serve BUILD_DIR` on a free loopback port; yields its base URL; stops it after.

    With build_dir None the hub serves its built-in example environments.
    """
    port = port or free_port()
    cmd = [*envhub_command(), "serve", *([str(build_dir)] if build_dir is not None else []),
           "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--exit-with-stdin"]
    if token:
        cmd += ["--token", token]
    cmd += extra_args or []
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile(mode="w+b") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_parent_death_signal())
        try:
            _wait_healthy(proc, base_url, token, startup_timeout, log)
            yield base_url
        finally:
            if proc.stdin is not None:
                proc.stdin.close()  # the hub shuts down on end-of-file
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


_PR_SET_PDEATHSIG = 1


def _parent_death_signal():
    """A preexec_fn asking Linux to SIGTERM the child when this thread dies; None elsewhere.

    Only from the main thread: the signal fires when the *thread* that forked exits, so from a
    worker thread it would stop the hub when that thread ends. The stdin pipe covers every case.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not threading.main_thread():
        return None
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return None
    libc = ctypes.CDLL(libc_name, use_errno=True)
    parent = os.getpid()

    def set_parent_death_signal() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died between fork and prctl
            os._exit(1)

    return set_parent_death_signal


def _wait_healthy(proc: subprocess.Popen, base_url: str, token: str | None, timeout: float, log) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"`{' '.join(proc.args)}` exited with code {proc.returncode}:\n{tail}")
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(base_url + "/health", headers=headers, timeout=2.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"hub at {base_url} did not become healthy within {timeout:g}s")
