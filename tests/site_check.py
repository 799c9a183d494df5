"""Open the tutorial's HTML report in headless Chromium and list what a reader would find broken.

Used by test_site.py (a small site built from stub notebooks) and test_notebooks.py (the site of
the executed tutorial). The browser resolves no host name, so the check does not depend on the
network and sees what an offline reader sees: a page may not load a script or a stylesheet from
the network (its math is MathML, drawn by the browser; `glt.viz.animation_html` draws the
animation buttons as text instead of a CDN's icon font).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

WINDOW = (412, 915)  # a phone held upright, in CSS pixels

# Runs in the page once every image has loaded (or the wait gave up).
INSPECT = """
const imgs = [...document.images];
return {
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  links: [...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href]),
  broken_images: imgs.filter(i => !(i.complete && i.naturalWidth > 0 && i.naturalHeight > 0))
                     .map(i => (i.id || i.src).slice(0, 80)),
  figures: imgs.filter(i => !i.closest('.animation')).length,
  animations: [...document.querySelectorAll('.animation')].map(
    a => !!a.querySelector('img') && !!a.querySelector('input[type=range]')),
  width: document.documentElement.scrollWidth,
  math: [...document.querySelectorAll('math')].map(m => {
    const box = m.getBoundingClientRect();
    return box.width > 0 && box.height > 0;
  }),
  network_loads: [...[...document.scripts].map(s => s.src),
                  ...[...document.querySelectorAll('link[rel=stylesheet]')].map(l => l.href)]
                 .filter(u => /^https?:/.test(u)),
};
"""
# Animations set their image's source from a script; a broken image is complete too.
IMAGES_SETTLED = "return [...document.images].every(i => i.complete && i.getAttribute('src'))"


def chromium():
    """A headless Chromium driven by selenium, phone-sized; skips the test when there is none."""
    try:
        from selenium import webdriver
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[dev]')")
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip(
            "no chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: the same result everywhere
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))
    # A phone: its viewport honours the pages' viewport meta tag (a page without one is 980 px wide).
    width, height = WINDOW
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True}
    chrome.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    return chrome


def expected_outputs(notebook: Path) -> tuple[int, int]:
    """(figures, animations) among a notebook's outputs: images, and matplotlib's JS animations."""
    figures = animations = 0
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            figures += any(k.startswith("image/") for k in data)
            animations += 'class="animation"' in "".join(data.get("text/html", ""))
    return figures, animations


def check_site(driver, site: Path, executed: Path) -> list[str]:
    """Load every page of `site` and return the problems found; saves site/screenshots/*.png.

    Every executed notebook in `executed` must have its page, with at least as many loaded
    images as it has figure outputs and one working animation element per animation output.
    """
    site, problems = site.resolve(), []
    shots = site / "screenshots"
    shots.mkdir(exist_ok=True)
    pages = sorted(site.rglob("*.html"))
    seen = {}
    for page in pages:
        name = page.relative_to(site).with_suffix("").as_posix()
        driver.get(page.as_uri())
        deadline = time.monotonic() + 10
        while not driver.execute_script(IMAGES_SETTLED) and time.monotonic() < deadline:
            time.sleep(0.1)
        found = seen[page] = driver.execute_script(INSPECT)
        driver.save_screenshot(str(shots / f"{name.replace('/', '-')}.png"))
        for entry in driver.get_log("browser"):
            if entry["level"] == "SEVERE":
                problems.append(f"{name}: console error: {entry['message'][:300]}")
        problems += [f"{name}: image not loaded: {i}" for i in found["broken_images"]]
        problems += [f"{name}: loads from the network: {u}" for u in found["network_loads"]]
        if not all(found["math"]):
            problems.append(f"{name}: {found['math'].count(False)} math elements not drawn")
        if found["width"] > WINDOW[0]:
            problems.append(f"{name}: {found['width']} px wide, wider than a {WINDOW[0]} px screen")
        notebook = executed / f"{name}.ipynb"
        if notebook.is_file():
            figures, animations = expected_outputs(notebook)
            if found["figures"] < figures:
                problems.append(f"{name}: {found['figures']} images for {figures} figure outputs")
            if len(found["animations"]) != animations or not all(found["animations"]):
                problems.append(
                    f"{name}: animation elements {found['animations']} for {animations} animations"
                )
    missing = {p.stem for p in executed.glob("*.ipynb")} - {p.stem for p in pages}
    problems += [f"{stem}: no page" for stem in sorted(missing)]
    for page, found in seen.items():
        name = page.relative_to(site).with_suffix("").as_posix()
        problems += [f"{name}: {bad}" for bad in _broken_links(page, found, seen)]
    return problems


def _broken_links(page: Path, found: dict, seen: dict[Path, dict]) -> list[str]:
    """Relative links must reach a file, anchors an element id of the page they point into."""
    broken = []
    for href, url in found["links"]:
        parts = urlsplit(url)
        if parts.scheme != "file":  # web links are not followed offline
            continue
        target = Path(unquote(parts.path))
        if not target.is_file():
            broken.append(f"link to a missing file: {href}")
        elif parts.fragment:
            ids = seen[target]["ids"] if target in seen else []
            if parts.fragment not in ids and unquote(parts.fragment) not in ids:
                broken.append(f"link to a missing anchor: {href}")
    return broken
