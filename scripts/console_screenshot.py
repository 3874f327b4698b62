#!/usr/bin/env python3
"""The README's screenshot of the console's access matrix, made, not drawn:
a small synthetic city is generated into a temporary directory, served by
``hub serve``, and headless Chromium (Debian's /usr/bin/chromium, driven by
playwright from the [test] extra) logs in with a bureau token and photographs
the matrix for one purpose, showing only the fields some department reads.
The masks' examples are Chinese: install a CJK font first (Debian:
``apt-get install fonts-wqy-microhei``), or they show as boxes.

Usage (from the repository's root, with the [test] extra installed):

    python3 scripts/console_screenshot.py                 # writes docs/console-matrix.png
    python3 scripts/console_screenshot.py --purpose statistics --out /tmp/m.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.processes import hub_command, serving  # noqa: E402 - after the path is set
from tests.test_graphiql_browser import CHROMIUM, FLAGS  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purpose", default="school-reopening")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console-matrix.png")
    parser.add_argument("--width", type=int, default=1700)
    parser.add_argument("--height", type=int, default=900)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        city = Path(tmp) / "city"
        hub_command("generate", "--persons", "300", "--seed", "5", "--out", str(city), "--quiet")
        cfg = Path(tmp) / "hub.toml"
        cfg.write_text(f'[hub]\ndata_dir = "{city}"\npolicy_poll_seconds = 0\n', encoding="utf-8")
        token = hub_command("token", "--department", "bigdata", "--config", str(cfg)).stdout.split()[-1]
        with serving(cfg) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            page.goto(f"{base}/console/login")
            page.fill("#login input[name=token]", token)
            page.click("#login button[type=submit]")
            page.goto(f"{base}/console/matrix?purpose={args.purpose}")
            page.check("#only-granted")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(args.out))
            browser.close()
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
