"""Progress of long commands (hub/cli/progress.py): a bar on a real pseudo-
terminal from the first moment to the end, plain lines when stderr is a file,
and nothing but the summary with --quiet."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

from hub.cli.progress import Bar, progress
from tests.processes import hub_command

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(*args: str) -> str:
    """``hub ARGS`` with stdout and stderr on a pseudo-terminal; everything it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", *args], stdout=follower, stderr=follower,
                            stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(follower)
    out = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    assert proc.wait(120) == 0, out.decode(errors="replace")
    return out.decode(errors="replace")


def test_generate_shows_a_bar_on_a_terminal_from_the_start_to_the_end(tmp_path: Path) -> None:
    text = ANSI.sub("", on_terminal("generate", "--persons", "4000", "--seed", "3", "--out", str(tmp_path / "c")))
    # The bar is drawn before the first phase line (planning), at 0 of the total...
    first_bar = text.find("0/4,000 persons")
    assert 0 <= first_bar < text.find("planning a city"), text[:500]
    # ... and its last state is the whole city, before the summary.
    assert "4,000/4,000 persons" in text, text[-800:]
    assert text.rfind("4,000/4,000 persons") < text.find("generated 4,000 persons")


def test_generate_quiet_on_a_terminal_prints_only_its_summary(tmp_path: Path) -> None:
    text = on_terminal("generate", "--persons", "4000", "--seed", "3", "--out", str(tmp_path / "c"), "--quiet")
    assert "\x1b[" not in text  # no bar drawn
    lines = [line for line in text.replace("\r", "").splitlines() if line.strip()]
    assert lines[0].startswith("generated 4,000 persons"), lines
    assert all(re.fullmatch(r"  \S+ +[\d,]+", line) for line in lines[1:]), lines  # the table of rows


def test_generate_without_a_terminal_writes_plain_lines_on_stderr(tmp_path: Path) -> None:
    proc = hub_command("generate", "--persons", "4000", "--seed", "3", "--out", str(tmp_path / "c"))
    assert "\x1b[" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "generate: 0/4,000 persons, 0/s", lines
    assert re.fullmatch(r"generate: 4,000 persons in [\d.]+ s", lines[-1]), lines
    assert proc.stdout.startswith("generated 4,000 persons")
    quiet = hub_command("generate", "--persons", "4000", "--seed", "3", "--out", str(tmp_path / "q"), "--quiet")
    assert quiet.stderr == ""


def test_plain_lines_say_rate_and_time_left() -> None:
    out = io.StringIO()
    bar = Bar("load", 1000, "rows", stream=out, terminal=False, every=3600)
    bar.done = 250
    line = bar._line()
    assert re.fullmatch(r"load: 250/1,000 rows, [\d,]+/s, [\d,]+ s left", line), line
    with progress("verify", 10, "entries", quiet=True, stream=out) as quiet:
        quiet.advance(10)
        quiet("a phase")
    assert "verify" not in out.getvalue()


def test_audit_export_keeps_stdout_for_the_entries(tmp_path: Path) -> None:
    city = tmp_path / "city"
    hub_command("generate", "--persons", "300", "--seed", "3", "--out", str(city), "--quiet")
    verify = hub_command("audit", "verify", "--data-dir", str(city))
    assert verify.stdout.startswith("audit trail intact"), verify.stdout
    assert verify.stderr.splitlines()[0].startswith("verify: 0"), verify.stderr
    export = hub_command("audit", "export", "--since", "2000-01-01", "--data-dir", str(city))
    assert "export:" not in export.stdout and export.stderr.startswith("export: 0")
    assert hub_command("audit", "verify", "--data-dir", str(city), "--quiet").stderr == ""
