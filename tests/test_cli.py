"""The ``hub`` command, through its entry point and as a real process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hub.access.tokens import verify_token
from hub.cli import main
from hub.config import HubConfig
from hub.errors import ConfigError


def test_token_prints_a_verifiable_token_on_its_last_line(city: Path, capsys: Any) -> None:
    code = main(["token", "--department", "school", "--scope", "school=S410105001",
                 "--purpose", "school-reopening", "--ttl", "120", "--data-dir", str(city)])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    identity = verify_token(last, HubConfig.for_data_dir(city).secret)
    assert identity.department == "school"
    assert identity.scopes == {"school": ("S410105001",)}
    assert identity.purposes == ("school-reopening",)
    assert identity.expires_at is not None and identity.expires_at - time.time() <= 120


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "school"], "KIND=ID"),
        (["--scope", "hospital=H1"], "scope kind"),
        (["--purpose", "curiosity"], "purpose 'curiosity' is unknown"),
    ],
)
def test_token_rejects_bad_arguments_clearly(city: Path, capsys: Any, args: list[str], message: str) -> None:
    code = main(["token", "--department", "school", "--data-dir", str(city), *args])
    assert code == 2
    assert message in capsys.readouterr().err


def test_token_from_a_config_file(tmp_path: Path, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("HUB_TEST_SECRET", "k" * 40)
    cfg = tmp_path / "hub.toml"
    cfg.write_text('[hub]\nsecret = "${HUB_TEST_SECRET}"\ndata_dir = "%s"\n' % tmp_path)
    assert main(["token", "--department", "province", "--config", str(cfg)]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert verify_token(token, "k" * 40).department == "province"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[hub]\nsecret = "%s"\ncolour = 1\n' % ("k" * 40), "hub.toml:3: unknown key hub.colour"),
        ('[hub]\nsecret = "${NOPE_NOT_SET}"\n', "environment variable NOPE_NOT_SET is not set"),
        ('[hub]\nsecret = "short"\ndata_dir = "."\n', "at least 32 bytes"),
        ('[hub]\nsecret = "%s"\n[connectors.school]\nurll = "x"\n' % ("k" * 40), "hub.toml:4: unknown key connectors.school.urll"),
        ('[hub]\nsecret = "%s"\n[connectors.library]\nurl = "x"\n' % ("k" * 40), "unknown connector 'library'"),
        ("[hub\n", "not valid TOML"),
        ('[hub]\nsecret = "%s"\ndata_dir = "."\n[rate_limit]\nrequests = 0\n' % ("k" * 40), "rate_limit.requests must be"),
        ('[hub]\nsecret = "%s"\ndata_dir = "."\n[rules]\nclinic_days = 3\n' % ("k" * 40), "hub.toml:5: unknown key rules.clinic_days"),
        ('[hub]\nsecret = "%s"\ndata_dir = "."\n[rules]\nmax_excluded_share = "half"\n' % ("k" * 40), "must be a number"),
        ('[hub]\nsecret = "%s"\ndata_dir = "."\n[[peers]]\nprefix = "4x"\nurl = "u"\ntoken = "t"\n' % ("k" * 40), "prefix must be 2 to 6 digits"),
        ('[hub]\nsecret = "%s"\ndata_dir = "."\nprovince = "Henan"\n' % ("k" * 40), "2-digit province code"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str,
                                              monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)  # data_dir = "." is the test's folder, never the repository
    cfg = tmp_path / "hub.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as err:
        HubConfig.from_file(cfg)
    assert message in str(err.value)
    assert not (tmp_path / "hub-secret").exists(), "loading a configuration that names its key wrote one"


def test_serve_with_a_broken_config_exits_3(tmp_path: Path, capsys: Any) -> None:
    cfg = tmp_path / "hub.toml"
    cfg.write_text("[hub]\nsecret = 1\n")
    assert main(["serve", "--config", str(cfg)]) == 3
    assert "hub.secret must be a string" in capsys.readouterr().err


def test_generate_command(tmp_path: Path, capsys: Any) -> None:
    out = tmp_path / "c"
    assert main(["generate", "--persons", "300", "--seed", "3", "--out", str(out)]) == 0
    assert "generated 300 persons" in capsys.readouterr().out
    assert json.loads((out / "city.json").read_text())["persons"] == 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_serves_and_its_curl_answers(tmp_path: Path) -> None:
    """As a new user: `hub demo`, then paste the curl command it printed."""
    port = _free_port()
    hub = shutil.which("hub", path=os.path.dirname(sys.executable)) or "hub"
    proc = subprocess.Popen(
        [hub, "demo", "--data-dir", str(tmp_path / "demo"), "--persons", "1500", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 120
        curl = None
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("curl "):
                curl = line.strip()
            if "Uvicorn running" in line or "Application startup complete" in line:
                break
        assert curl, "".join(lines)
        assert any(line.startswith("education ") for line in lines)
        out = subprocess.run(["bash", "-c", curl], capture_output=True, text=True, timeout=30)
        body = json.loads(out.stdout)
        assert "errors" not in body, body
        edges = body["data"]["school"]["students"]["edges"]
        assert edges and edges[0]["node"]["healthCode"]["color"] in ("GREEN", "YELLOW", "RED")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _subcommands(parser: Any, prefix: str = "hub") -> Any:
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from _subcommands(sub, f"{prefix} {name}")


def test_every_option_of_every_command_has_help_naming_its_default() -> None:
    import argparse

    from hub.cli import _parser

    commands = dict(_subcommands(_parser()))
    assert {"hub demo", "hub serve", "hub generate", "hub token", "hub audit export"} <= set(commands)
    for command, parser in commands.items():
        text = parser.format_help()
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction) or not action.option_strings:
                continue
            assert action.help, f"{command} {action.option_strings[0]} has no help"
            flag = action.nargs == 0 or action.required or isinstance(action, argparse._AppendAction)
            if not flag:  # the help as printed, with the default the formatter adds
                shown = parser.formatter_class(command)._get_help_string(action)
                assert "default" in shown, f"{command} {action.option_strings[0]} does not say its default"
        assert "--help" in text


def test_version() -> None:
    from tests.processes import hub_command

    out = hub_command("--version")
    assert out.stdout.strip() == "hub 0.1.0"


def _hub(*args: str) -> Any:
    """The installed `hub` command itself (the console script), as an operator runs it."""
    import subprocess
    import sys

    command = Path(sys.executable).parent / "hub"
    assert command.exists(), f"{command}: install the package (pip install -e .)"
    return subprocess.run([str(command), *args], capture_output=True, text=True, timeout=120)


def test_exit_codes_are_the_readme_s(tmp_path: Path, city: Path) -> None:
    """usage 2, configuration 3, data 4, a source or the audit store unreachable 5;
    each one line on stderr, never a traceback."""
    from hub import errors

    broken = tmp_path / "broken.toml"
    broken.write_text("[hub]\npolicy_poll_seconds = \"soon\"\n", encoding="utf-8")
    partial = tmp_path / "partial"
    shutil.copytree(city, partial)
    (partial / "clinic.sqlite").unlink()
    unreachable = tmp_path / "unreachable.toml"
    unreachable.write_text(f'[hub]\ndata_dir = "{city}"\n'
                           'state_url = "postgresql+asyncpg://hub@127.0.0.1:1/hub"\n', encoding="utf-8")
    cases = [
        (errors.UsageError, ["generate", "--from", str(city)], "--from goes with --target"),
        (errors.ConfigError, ["serve", "--config", str(broken)], "policy_poll_seconds"),
        (errors.DataError, ["demo", "--data-dir", str(partial), "--port", "1"], "clinic.sqlite is missing"),
        (errors.SourceUnavailable, ["generate", "--target", "postgresql+asyncpg://root@127.0.0.1:1/",
                                    "--out", str(tmp_path / "out")], "127.0.0.1"),
        (errors.AuditUnavailable, ["audit", "verify", "--config", str(unreachable)], ""),
        (errors.AuditUnavailable, ["serve", "--config", str(unreachable), "--port", "1"], "127.0.0.1:1"),
    ]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for cls, args, says in cases:
        out = _hub(*args)
        assert out.returncode == cls.exit_code, (args, out.returncode, out.stderr)
        assert says in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
        assert f"`{cls.code}` (exit {cls.exit_code}" in readme or f"(exit {cls.exit_code}" in readme, cls
    assert [c.exit_code for c, *_ in cases] == [2, 3, 4, 5, 5, 5]
    assert _hub("--no-such-option").returncode == 2
