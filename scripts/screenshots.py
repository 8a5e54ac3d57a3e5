"""Take the README's screenshots of a run's map: the national view and a commune's popup.

Opens ``map.html`` in Debian's headless Chromium through Playwright with every non-``file:``
request refused (the map needs no network), waits for it to be drawn, and writes two PNG files:

* ``<out>/map-france.png``: the map as it first appears, at 1366 × 768;
* ``<out>/popup-commune.png``: the popup of a commune found with the search box (Enter).

Usage::

    territory run --out /tmp/france
    python scripts/screenshots.py /tmp/france/map.html --commune 44109 --out docs/images
"""

from __future__ import annotations

import argparse
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def main(argv: list[str] | None = None) -> int:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("map", type=Path, help="map.html of a territory run")
    parser.add_argument("--commune", default="44109", help="INSEE code whose popup is shown")
    parser.add_argument("--out", type=Path, default=Path("docs/images"), help="output folder")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        page.route("**/*", lambda route: route.continue_()
                   if route.request.url.startswith(("file:", "data:")) else route.abort())
        page.goto(args.map.resolve().as_uri())
        page.wait_for_function("window.territoryMap !== undefined", timeout=60_000)
        page.wait_for_timeout(1500)  # the canvas paints on the next frames
        page.screenshot(path=str(args.out / "map-france.png"))
        box = page.locator(".territory-search input")
        box.fill(args.commune)
        box.press("Enter")
        page.locator(".leaflet-popup .territory-popup").first.wait_for(state="visible",
                                                                     timeout=10_000)
        page.wait_for_timeout(800)
        page.screenshot(path=str(args.out / "popup-commune.png"))
        browser.close()
    print(f"wrote {args.out / 'map-france.png'} and {args.out / 'popup-commune.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
