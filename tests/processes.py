"""Real hub processes for the tests where the network or a process boundary
matters: a free port, and `hub serve` as its own process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hub_command(*args: str, env: Mapping[str, str] | None = None,
                check: bool = True) -> subprocess.CompletedProcess[str]:
    """``hub ARGS`` in a fresh interpreter (so entry points are read anew)."""
    proc = subprocess.run([sys.executable, "-m", "hub.cli", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"hub {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return proc


@contextmanager
def serving(config_file: Path, env: Mapping[str, str] | None = None,
            timeout: float = 30, log: Path | None = None, args: tuple[str, ...] = ()) -> Iterator[str]:
    """``hub serve --config FILE`` on a free port; yields its base URL."""
    with serving_process(config_file, env, timeout, log, args) as (base, _proc):
        yield base


@contextmanager
def serving_process(config_file: Path, env: Mapping[str, str] | None = None, timeout: float = 30,
                    log: Path | None = None, args: tuple[str, ...] = ()
                    ) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``hub serve --config FILE`` on a free port; yields its base URL and its process.

    Its log (stderr: a line per request) goes to the file ``log``, or a
    temporary one: never to a pipe nobody reads, which would fill and stop it."""
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        log = log or Path(scratch) / "hub.log"
        with log.open("wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--config", str(config_file),
                                     "--port", str(port), *args], stdout=subprocess.DEVNULL,
                                    stderr=err, env={**os.environ, **(env or {})})
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"hub serve did not start: {log.read_text(errors='replace')}")
                time.sleep(0.1)
            yield base, proc
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
