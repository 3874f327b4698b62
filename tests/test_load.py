"""`hub generate --target`: the city loaded into PostgreSQL and MariaDB, the
configuration it prints serving it, and every way a target can be wrong told
in one line with its exit code (hub/city/load.py)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from connectors.registry import generated_sources
from hub.app import create_app
from hub.city.load import DEFAULT_PREFIX, connectors_toml, resolve_targets
from hub.cli import main
from hub.config import HubConfig
from hub.errors import ConfigError, UsageError
from tests import stores

SOURCES = generated_sources()
PG, MY = stores.SERVERS["postgresql"], stores.SERVERS["mariadb"]


# --------------------------------------------------------------------------- targets
def test_one_server_gets_a_database_per_source() -> None:
    targets = resolve_targets(["postgresql://root@127.0.0.1/"], SOURCES)
    assert list(targets) == SOURCES
    assert {t.database for t in targets.values()} == {f"{DEFAULT_PREFIX}{s}" for s in SOURCES}
    assert all(t.drivername == "postgresql+asyncpg" for t in targets.values())


def test_a_source_named_goes_to_its_own_database() -> None:
    targets = resolve_targets([PG, "school=mysql://root@127.0.0.1/edu"], SOURCES, "hub_x_")
    assert targets["school"].render_as_string() == "mysql+aiomysql://root@127.0.0.1/edu?charset=utf8mb4"
    assert targets["clinic"].database == "hub_x_clinic"
    only_named = resolve_targets([f"{s}=postgresql+asyncpg://root@h/{s}db" for s in SOURCES], SOURCES)
    assert [t.database for t in only_named.values()] == [f"{s}db" for s in SOURCES]


@pytest.mark.parametrize(("specs", "message"), [
    (["postgresql://root@127.0.0.1/db"], "drop /db"),
    (["healthcode=postgresql://root@127.0.0.1/"], "name the database"),
    (["nosuch=postgresql://root@127.0.0.1/x"], "no source is named nosuch"),
    (["healthcode=postgresql://root@127.0.0.1/x"], "no database for transport"),
    ([PG, MY], "only one server URL"),
    (["healthcode=postgresql://h/a", "healthcode=postgresql://h/b", PG], "given twice"),
    (["sqlite:///city.sqlite"], "not sqlite"),
    (["postgresql+psycopg2://root@127.0.0.1/"], "not an async driver"),
    (["oracle://root@127.0.0.1/"], "not oracle"),
    (["not a url"], "not a database URL"),
])
def test_a_wrong_target_is_a_usage_error(specs: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_targets(specs, SOURCES)


def test_a_prefix_must_make_plain_names() -> None:
    with pytest.raises(UsageError, match="--database-prefix"):
        resolve_targets([PG], SOURCES, 'x"; drop')


def test_the_printed_configuration_keeps_passwords_out(tmp_path: Path, monkeypatch: Any) -> None:
    targets = resolve_targets(["postgresql://hub:s3cret@db.example:5433/"], SOURCES)
    text = connectors_toml(targets, tmp_path)
    assert "s3cret" not in text and "${HUB_DB_PASSWORD}" in text
    parsed = tomllib.loads(text)
    assert parsed["hub"]["data_dir"] == str(tmp_path.resolve())
    monkeypatch.setenv("HUB_DB_PASSWORD", "s3cret")
    (tmp_path / "hub.toml").write_text(text, encoding="utf-8")
    config = HubConfig.from_file(tmp_path / "hub.toml")
    assert make_url(config.connectors["school"].url).password == "s3cret"
    assert make_url(config.connectors["school"].url).database == f"{DEFAULT_PREFIX}school"


# --------------------------------------------------------------------------- the command
def _run(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(["generate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("hub: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_generate_into_postgresql_serves_the_printed_configuration(tmp_path: Path, capsys: Any) -> None:
    out_dir, prefix = tmp_path / "city", stores.prefix("load")
    targets = resolve_targets([PG], SOURCES, prefix)
    try:
        code, out, err = _run(capsys, "--persons", "300", "--seed", "3", "--out", str(out_dir),
                              "--target", PG, "--database-prefix", prefix)
        if code == 5:
            pytest.fail(f"PostgreSQL is not answering at {PG} (.ci/run starts it): {err}", pytrace=False)
        assert code == 0, err
        config_file = tmp_path / "hub-pg.toml"
        config_file.write_text(out, encoding="utf-8")  # stdout is the configuration, as the README says
        config = HubConfig.from_file(config_file)
        assert {n: make_url(c.url).database for n, c in config.connectors.items()} == \
            {s: f"{prefix}{s}" for s in SOURCES}
        manifest = json.loads((out_dir / "city.json").read_text(encoding="utf-8"))
        assert manifest["files"] == {} and set(manifest["targets"]) == set(SOURCES)
        assert manifest["rows"]["jkm_xx"] == 300
        # Progress on stderr (not a terminal: plain lines): the persons generated, then every row loaded.
        assert re.search(r"^generate: 300 persons in [\d.]+ s$", err, re.M), err
        loaded = re.search(r"^load: ([\d,]+) rows in [\d.]+ s$", err, re.M)
        assert loaded and int(loaded.group(1).replace(",", "")) == sum(manifest["rows"].values()), err
        assert not list(out_dir.glob("*.sqlite")), "the scratch SQLite city is gone"
        assert (out_dir / "hub-secret").is_file()

        assert main(["token", "--config", str(config_file), "--department", "health"]) == 0
        token = capsys.readouterr().out.strip().splitlines()[-1]
        red = manifest["samples"]["red_id_number"]
        with TestClient(create_app(config)) as client:
            r = client.post("/graphql", json={"query": "query($id: String!) { person(idNumber: $id) { "
                                                       "idNumber healthCode { color } } }",
                                              "variables": {"id": red}},
                            headers={"Authorization": f"Bearer {token}",
                                     "X-Purpose": "epidemiological-investigation"})
        assert r.json()["data"] == {"person": {"idNumber": red, "healthCode": {"color": "RED"}}}

        # Loading again replaces the earlier load (same layout) ...
        code, _out, err = _run(capsys, "--persons", "200", "--seed", "4", "--out", str(out_dir),
                               "--target", PG, "--database-prefix", prefix)
        assert code == 0, err
        assert json.loads((out_dir / "city.json").read_text(encoding="utf-8"))["rows"]["jkm_xx"] == 200
        # ... but a database holding another source's tables is refused before anything is written.
        code, _out, err = _run(capsys, "--persons", "200", "--out", str(out_dir), "--target", PG,
                               "--target", f"healthcode=postgresql://root@127.0.0.1/{prefix}school",
                               "--database-prefix", prefix)
        assert code == 4
        assert "holds tables that are not the healthcode source's" in _one_line_error(err)
        assert "planning a city" not in err, "refused before generating"
    finally:
        stores.drop(targets)


def test_an_existing_city_loads_into_mariadb(tmp_path: Path, capsys: Any) -> None:
    city, prefix = tmp_path / "city", stores.prefix("loadfrom")
    assert main(["generate", "--persons", "200", "--seed", "5", "--out", str(city)]) == 0
    capsys.readouterr()
    targets = resolve_targets([MY], SOURCES, prefix)
    try:
        code, out, err = _run(capsys, "--from", str(city), "--target", MY, "--database-prefix", prefix)
        if code == 5:
            pytest.fail(f"MariaDB is not answering at {MY} (.ci/run starts it): {err}", pytrace=False)
        assert code == 0, err
        assert "# loaded the city of 200 persons" in out
        assert err.splitlines()[0] == "load: 0 rows, 0/s", err
        assert re.search(r"^load: [\d,]+ rows in [\d.]+ s$", err, re.M), err
        parsed = tomllib.loads(out)
        assert parsed["hub"]["data_dir"] == str(city.resolve())
        assert parsed["connectors"]["school"]["url"] == \
            f"mysql+aiomysql://root@127.0.0.1:3306/{prefix}school?charset=utf8mb4"
        assert (city / "school.sqlite").is_file(), "--from leaves the SQLite city as it is"
    finally:
        stores.drop(targets)


@pytest.mark.parametrize(("target", "exit_code", "message"), [
    ("postgresql://root@127.0.0.1:1/", 5, "cannot reach the server"),
    ("mysql://root@127.0.0.1:1/", 5, "cannot reach the server"),
    ("postgresql://hub_no_such_role@127.0.0.1:5432/", 3, "refused the login"),
    ("mysql://hub_no_such_user:pw@127.0.0.1:3306/", 3, "refused the login"),
    ("postgresql://root@127.0.0.1/db", 2, "a target without NAME= is a server"),
])
def test_a_target_that_cannot_be_used_is_one_line(tmp_path: Path, capsys: Any, target: str, exit_code: int,
                                                  message: str) -> None:
    code, out, err = _run(capsys, "--persons", "100", "--out", str(tmp_path / "c"), "--target", target)
    assert code == exit_code
    line = _one_line_error(err)
    assert message in line and "pw@" not in line
    assert out == "" and not (tmp_path / "c" / "city.json").exists()


def test_options_of_a_target_need_one(capsys: Any, tmp_path: Path) -> None:
    code, _out, err = _run(capsys, "--out", str(tmp_path), "--database-prefix", "hub_x_")
    assert code == 2 and "goes with --target" in _one_line_error(err)


def test_a_server_that_is_down_fails_the_tests_that_need_it(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setitem(stores.SERVERS, "postgresql", "postgresql+asyncpg://root@127.0.0.1:1/")
    for source in SOURCES:
        (tmp_path / f"{source}.sqlite").touch()
    with pytest.raises(pytest.fail.Exception, match=r"postgresql is not answering .* do not skip"):
        stores.load("postgresql", tmp_path, "down")


def test_a_driver_that_is_not_installed_names_the_extra(monkeypatch: Any) -> None:
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

    def missing(cls: Any) -> Any:
        raise ModuleNotFoundError("No module named 'asyncpg'")

    monkeypatch.setattr(PGDialect_asyncpg, "import_dbapi", classmethod(missing))
    with pytest.raises(ConfigError, match=r"asyncpg is not installed; pip install -e '\.\[postgres\]'"):
        resolve_targets([PG], SOURCES)
