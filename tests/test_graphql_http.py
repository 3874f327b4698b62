"""GraphQL over HTTP conformance: the graphql-http audit suite (the npm package,
pinned with its integrity hashes in tests/graphql_http/package-lock.json) run
by node against a real `hub serve`, once with every demo department's token.

Every audit must pass, the MAYs included: a warning (a SHOULD) or an error (a
MUST) fails the test. Node is required, not optional: it is on every
developer's machine and in CI, and a missing node fails here rather than
skipping the check. The suite is installed with ``npm ci`` (the lockfile's exact
versions, checked against its hashes) into a cache outside the repository,
once per lockfile.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hub.access.vocabulary import POLICY_DIR, load_vocabulary
from hub.cli import demo_tokens
from hub.config import HubConfig
from tests.conftest import speaks_graphql
from tests.processes import serving

SUITE = Path(__file__).resolve().parent / "graphql_http"
#: How many audits graphql-http 1.23.1 runs.
AUDITS = 61


def _installed() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "node and npm are needed for the graphql-http audit (apt-get install nodejs npm)"
    lock = (SUITE / "package-lock.json").read_bytes()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    home = cache / "city-brain-hub" / f"graphql-http-{hashlib.sha256(lock).hexdigest()[:16]}"
    if not (home / "node_modules" / "graphql-http" / "package.json").exists():
        home.mkdir(parents=True, exist_ok=True)
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(SUITE / name, home / name)
        subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=home,
                       check=True, capture_output=True, timeout=300)
    shutil.copyfile(SUITE / "audit.mjs", home / "audit.mjs")
    return home


@pytest.fixture(scope="module")
def hub_url(city: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    cfg = tmp_path_factory.mktemp("ghttp") / "hub.toml"
    db = cfg.parent / "hub.sqlite"
    # 61 audits a department, as fast as node sends them: above the per-address budget.
    cfg.write_text(f'[hub]\ndata_dir = "{city}"\nstate_url = "sqlite+aiosqlite:///{db}"\n'
                   '[limits]\naddress_requests = 0\n', encoding="utf-8")
    with serving(cfg) as base:
        yield f"{base}/graphql", HubConfig.from_file(cfg)


def test_graphql_http_audit_passes_for_every_department(hub_url: Any, samples: dict[str, Any]) -> None:
    home = _installed()
    url, config = hub_url
    vocabulary = load_vocabulary(POLICY_DIR)
    tokens = demo_tokens(config, samples, vocabulary)
    assert len(tokens) == len(vocabulary.departments) >= 9
    for department, _scope, token in tokens:
        purpose = vocabulary.departments[department].purposes[0]
        if not speaks_graphql(department, purpose):
            continue  # national asks nothing over GraphQL (tests/test_policies.py: refused whole)
        proc = subprocess.run([shutil.which("node") or "node", "audit.mjs", url, token, purpose], cwd=home,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        results = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        failed = [f"{r['status']}: {r['name']} ({r['reason']})" for r in results if r["status"] != "ok"]
        assert not failed, (department, failed)
        assert len(results) == AUDITS, (department, len(results))
