#!/usr/bin/env python3
"""Vendor GraphiQL into hub/http/static/graphiql/, the way Datasette vendors
its JavaScript: pinned versions, checked tarballs, the licences beside the files.

The hub serves GraphiQL itself (government intranets reach no CDN), so the
browser build is committed. Where it comes from:

- ``scripts/graphiql/package.json`` pins the official ``graphiql`` npm package
  and its peers (React, ReactDOM, graphql-js) and the bundler (esbuild) to exact
  versions; ``scripts/graphiql/package-lock.json`` pins every package of the tree
  with npm's ``integrity`` (sha512 of the tarball). ``PINS`` below must agree
  with both.
- Every tarball is fetched with the npm client (``npm pack NAME@VERSION``, no
  install scripts run), its sha512 is computed here and compared with the
  lockfile's before it is unpacked; one mismatch stops the run.
- esbuild bundles ``scripts/graphiql/entry.js`` (ESM, minified, production
  React) and Monaco's three workers; the output, a ``LICENSES.txt`` with the
  licence of every package the bundle contains and ``VENDORED.json`` (versions,
  each file's sha256) are written into the package. ``tests/test_graphiql.py``
  checks the committed files against ``VENDORED.json``.

Usage (needs node and npm, and the npm registry):

    python3 scripts/vendor_graphiql.py            # rebuild hub/http/static/graphiql/
    python3 scripts/vendor_graphiql.py --check    # rebuild in a temp dir, compare, exit 1 on a difference

To upgrade: change the versions in PINS and package.json, run
``npm install --package-lock-only --ignore-scripts`` in scripts/graphiql/, then
this script; review the diff of VENDORED.json and LICENSES.txt.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "scripts" / "graphiql"
TARGET = ROOT / "hub" / "http" / "static" / "graphiql"

#: The packages the build starts from, at exact versions (the lockfile pins the rest).
PINS = {
    "graphiql": "5.4.0",
    "graphql": "16.15.0",
    "react": "19.3.1",
    "react-dom": "19.3.1",
    "esbuild": "0.28.2",
}

#: Monaco's workers: output name -> module (GraphiQL's setup-workers name the same three).
WORKERS = {
    "editor.worker.js": "monaco-editor/esm/vs/editor/editor.worker.js",
    "json.worker.js": "monaco-editor/esm/vs/language/json/json.worker.js",
    "graphql.worker.js": "monaco-graphql/esm/graphql.worker.js",
}

_ESBUILD_COMMON = ["--bundle", "--minify", "--define:process.env.NODE_ENV=\"production\"",
                   "--legal-comments=none", "--log-level=warning", "--target=es2022"]

#: A package's licence and notice files, by the start of their lower-cased names.
_LICENCE_PREFIXES = ("license", "licence")
_NOTICE_PREFIXES = ("thirdpartynotices", "notice")


def _files(folder: Path, prefixes: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().startswith(prefixes))


#: Packages whose tarball ships no licence file (each declares MIT in its
#: package.json): the package whose LICENSE covers it, and why.
LICENCE_FROM = {
    # Published from the graphql/graphiql monorepo, whose LICENSE graphiql ships.
    "@graphiql/plugin-doc-explorer": "graphiql",
    "@graphiql/plugin-history": "graphiql",
    # Published from the facebook/react repository, whose LICENSE react ships.
    "react-compiler-runtime": "react",
    # Same author (Anton Korzunov) and licence as its sibling, which ships the text.
    "react-remove-scroll-bar": "react-remove-scroll",
}


class VendorError(Exception):
    pass


def run(cmd: list[str], cwd: Path) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        raise VendorError(f"{' '.join(cmd[:3])} ... exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout


def sri_sha512(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def node_platform() -> tuple[str, str]:
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    return sys.platform if sys.platform != "darwin" else "darwin", arch


def _fits(entry: dict[str, Any], os_name: str, arch: str) -> bool:
    """Whether an (optional, platform-specific) package belongs on this machine."""

    def allowed(values: list[str] | None, value: str) -> bool:
        if not values:
            return True
        if any(v == f"!{value}" for v in values):
            return False
        positive = [v for v in values if not v.startswith("!")]
        return not positive or value in positive

    return allowed(entry.get("os"), os_name) and allowed(entry.get("cpu"), arch)


def read_lock() -> dict[str, dict[str, Any]]:
    """The lockfile's packages, checked against PINS and package.json."""
    manifest = json.loads((SOURCE / "package.json").read_text(encoding="utf-8"))
    lock = json.loads((SOURCE / "package-lock.json").read_text(encoding="utf-8"))
    declared = {**manifest.get("dependencies", {}), **manifest.get("devDependencies", {})}
    if declared != PINS:
        raise VendorError(f"scripts/graphiql/package.json declares {declared}, PINS says {PINS}")
    packages: dict[str, dict[str, Any]] = {k: v for k, v in lock["packages"].items() if k}
    for name, version in PINS.items():
        entry = packages.get(f"node_modules/{name}")
        if entry is None or entry.get("version") != version:
            raise VendorError(f"package-lock.json does not pin {name}@{version}; "
                              "run npm install --package-lock-only in scripts/graphiql/")
    for path, entry in packages.items():
        if entry.get("link"):
            raise VendorError(f"package-lock.json links {path}: only registry packages are vendored")
        if not str(entry.get("integrity", "")).startswith("sha512-"):
            raise VendorError(f"package-lock.json has no sha512 integrity for {path}")
    return packages


def package_name(path: str, entry: dict[str, Any]) -> str:
    return str(entry.get("name") or path.rsplit("node_modules/", 1)[1])


def fetch(packages: dict[str, dict[str, Any]], work: Path) -> dict[str, str]:
    """Fetch, verify and unpack each package into work/<its lockfile path>;
    returns path -> name@version."""
    os_name, arch = node_platform()
    wanted = {path: entry for path, entry in packages.items() if _fits(entry, os_name, arch)}
    specs = sorted({f"{package_name(p, e)}@{e['version']}" for p, e in wanted.items()})
    tarballs = work / "tarballs"
    tarballs.mkdir()
    packed = json.loads(run(["npm", "pack", *specs, "--json", "--pack-destination", str(tarballs)],
                            cwd=work))
    files = {item["id"]: tarballs / item["filename"] for item in packed}
    installed: dict[str, str] = {}
    for path, entry in sorted(wanted.items()):
        spec = f"{package_name(path, entry)}@{entry['version']}"
        if spec not in files:
            raise VendorError(f"npm pack did not fetch {spec}")
        data = files[spec].read_bytes()
        actual = sri_sha512(data)
        if actual != entry["integrity"]:
            raise VendorError(f"{spec}: tarball sha512 {actual} differs from the lockfile's "
                              f"{entry['integrity']}")
        dest = work / path
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(files[spec], "r:gz") as tar:
            for member in tar.getmembers():
                parts = member.name.split("/", 1)  # npm tarballs have one top folder
                if len(parts) < 2 or not parts[1]:
                    continue
                member.name = parts[1]
                tar.extract(member, dest, filter="data")
        installed[path] = spec
    return installed


def build(work: Path, out: Path) -> dict[str, Any]:
    """Bundle with esbuild; returns the main bundle's metafile."""
    shutil.copy(SOURCE / "entry.js", work / "entry.js")
    esbuild = ["node", str(work / "node_modules" / "esbuild" / "bin" / "esbuild")]
    meta = work / "meta.json"
    run([*esbuild, "entry.js", *_ESBUILD_COMMON, "--format=esm", "--entry-names=graphiql",
         "--loader:.ttf=file", "--asset-names=[name]", f"--outdir={out}", f"--metafile={meta}"],
        cwd=work)
    metas = [json.loads(meta.read_text(encoding="utf-8"))]
    for name, module in WORKERS.items():
        wmeta = work / f"{name}.meta.json"
        run([*esbuild, str(work / "node_modules" / module), *_ESBUILD_COMMON, "--format=iife",
             f"--outfile={out / name}", f"--metafile={wmeta}"], cwd=work)
        metas.append(json.loads(wmeta.read_text(encoding="utf-8")))
    inputs = {path: info for m in metas for output in m["outputs"].values()
              for path, info in output.get("inputs", {}).items() if info.get("bytesInOutput", 0) > 0}
    return {"inputs": inputs}


_DATA_URL = re.compile(r"""url\(\s*["']?data:image/(png|svg\+xml|gif);base64,([A-Za-z0-9+/=]+)["']?\s*\)""")


def externalise_images(css: Path) -> None:
    """Move the CSS's data: URL images into files beside it, so that the page's
    CSP needs no ``img-src data:``."""

    def to_file(match: re.Match[str]) -> str:
        data = base64.b64decode(match.group(2))
        ext = {"png": "png", "svg+xml": "svg", "gif": "gif"}[match.group(1)]
        name = f"image-{hashlib.sha256(data).hexdigest()[:12]}.{ext}"
        (css.parent / name).write_bytes(data)
        return f'url("./{name}")'

    css.write_text(_DATA_URL.sub(to_file, css.read_text(encoding="utf-8")), encoding="utf-8")


def bundled_packages(meta: dict[str, Any], installed: dict[str, str]) -> dict[str, str]:
    """Lockfile path -> name@version of every package with code in the output."""
    found: dict[str, str] = {}
    for source in meta["inputs"]:
        if "node_modules/" not in source:
            continue
        # The deepest node_modules/<name> (or <@scope/name>) that holds the file.
        head, _, rest = source.rpartition("node_modules/")
        parts = rest.split("/")
        name = "/".join(parts[:2]) if parts[0].startswith("@") else parts[0]
        path = f"{head}node_modules/{name}"
        if path not in installed:
            raise VendorError(f"esbuild read {source}, which no lockfile package holds")
        found[path] = installed[path]
    return found


def licences(work: Path, packages: dict[str, str], lock: dict[str, dict[str, Any]]) -> str:
    parts = ["Licences of the packages bundled into hub/http/static/graphiql/ "
             "(written by scripts/vendor_graphiql.py).\n"]
    for path, spec in sorted(packages.items(), key=lambda kv: kv[1]):
        folder = work / path
        name = spec.rsplit("@", 1)[0]
        declared = lock[path].get("license", "?")
        heading = f"{spec} ({declared})"
        texts = _files(folder, _LICENCE_PREFIXES)
        if not texts and name in LICENCE_FROM:
            texts = _files(work / "node_modules" / LICENCE_FROM[name], _LICENCE_PREFIXES)
            heading += f": the package ships no licence file; the text of {LICENCE_FROM[name]}"
        if not texts:
            raise VendorError(f"{spec} has no licence file; name the package whose licence "
                              "covers it in LICENCE_FROM, or drop it")
        parts.append(f"\n{'=' * 78}\n{heading}\n{'=' * 78}\n")
        parts.extend(t.read_text(encoding="utf-8", errors="replace").strip() + "\n" for t in texts)
        for notice in _files(folder, _NOTICE_PREFIXES):
            parts.append(f"\n--- {notice.name} ---\n")
            parts.append(notice.read_text(encoding="utf-8", errors="replace").strip() + "\n")
    return "".join(parts)


def vendor(out: Path) -> None:
    lock = read_lock()
    with tempfile.TemporaryDirectory(prefix="vendor-graphiql-") as tmp:
        work = Path(tmp)
        installed = fetch(lock, work)
        staging = work / "out"
        meta = build(work, staging)
        externalise_images(staging / "graphiql.css")
        bundled = bundled_packages(meta, installed)
        (staging / "LICENSES.txt").write_text(licences(work, bundled, lock), encoding="utf-8")
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in sorted(staging.iterdir()) if p.is_file()}
        manifest = {
            "about": "GraphiQL built from the npm registry by scripts/vendor_graphiql.py; "
                     "do not edit these files by hand",
            "pins": PINS,
            "bundled": sorted(set(bundled.values())),
            "files": files,
        }
        (staging / "VENDORED.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(staging, out)


def differences(a: Path, b: Path) -> list[str]:
    names = {p.name for p in a.iterdir()} | {p.name for p in b.iterdir()}
    return sorted(n for n in names
                  if not (a / n).is_file() or not (b / n).is_file()
                  or (a / n).read_bytes() != (b / n).read_bytes())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="rebuild in a temporary folder and compare with the committed files")
    args = parser.parse_args(argv)
    try:
        if args.check:
            with tempfile.TemporaryDirectory(prefix="graphiql-check-") as tmp:
                fresh = Path(tmp) / "graphiql"
                vendor(fresh)
                changed = differences(fresh, TARGET)
                if changed:
                    print(f"differs from a fresh build: {', '.join(changed)}", file=sys.stderr)
                    return 1
                print("hub/http/static/graphiql/ matches a fresh build")
                return 0
        vendor(TARGET)
    except VendorError as exc:
        print(f"vendor_graphiql: {exc}", file=sys.stderr)
        return 1
    size = sum(p.stat().st_size for p in TARGET.iterdir())
    print(f"wrote {TARGET.relative_to(ROOT)} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
