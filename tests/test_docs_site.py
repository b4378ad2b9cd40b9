"""The documentation site in a real browser.

The site that `bash scripts/dev.sh docs` (scripts/build_docs.py) built is served on 127.0.0.1 (a free port, a
thread of this process) and opened page by page in Debian's Chromium, driven by Playwright as in
tests/test_browser.py: every page loads with no console error and no request to another host, every image
loads, no internal link points at a missing page, the search finds "focal loss" and "batch control", an API page
shows `show_doc` output, a paper page its figures. Screenshots go to test-artifacts/docs/.

The site is named by CXR_DOCS_SITE (scripts/check.sh builds it and sets it, after the paper smoke runs whose
notebooks it shows); without it the test is skipped, saying so:

    python scripts/build_docs.py && CXR_DOCS_SITE=_docs python -m pytest -q tests/test_docs_site.py
"""
import functools
import http.server
import json
import os
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse, unquote

import pytest

from test_browser import _artifacts, _chromium

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site():
    env = os.environ.get("CXR_DOCS_SITE")
    if not env:
        pytest.skip("CXR_DOCS_SITE is not set: build the site (python scripts/build_docs.py) and point CXR_DOCS_SITE at it "
                    "(scripts/check.sh does both after the paper smoke runs)")
    root = Path(env).resolve()
    assert (root / "index.html").is_file(), f"CXR_DOCS_SITE={env}: no index.html there (build it with python scripts/build_docs.py)"
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def browser():
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Chromium not found (install Debian's `chromium`, as scripts/dev.sh test does, or set CXR_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("Playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


def _out() -> Path:
    d = _artifacts().parent / "docs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _open(page, url: str, problems: list):
    "Load `url`, recording console errors, failed requests and requests to other hosts into `problems`."
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=30_000)


def test_every_page_loads_links_and_images(site, browser):
    root, base = site
    pages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.html") if p.name != "404.html")
    assert len(pages) >= 30 and "index.html" in pages, pages
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    problems, current = [], {"url": ""}
    page.on("console", lambda m: problems.append(f"{current['url']}: console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"{current['url']}: page error: {e}"))
    # a request the next navigation cancels (net::ERR_ABORTED, e.g. the favicon) is no fault of the site; a missing
    # file is: its status
    page.on("requestfailed", lambda r: problems.append(f"{current['url']}: request failed: {r.url} ({r.failure})")
            if "ERR_ABORTED" not in (r.failure or "") else None)
    page.on("response", lambda r: problems.append(f"{current['url']}: {r.status} for {r.url}") if r.status >= 400 else None)
    page.on("request", lambda r: problems.append(f"{current['url']}: request to another host: {r.url}")
            if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
    broken, n_images, n_links = [], 0, 0
    for rel in pages:
        url = urljoin(base, rel)
        current["url"] = rel
        _open(page, url, problems)
        bad_imgs = page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => (i.src || '').slice(0, 80))")
        problems += [f"{rel}: image did not load: {s}" for s in bad_imgs]
        n_images += page.evaluate("document.images.length")
        for href in page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)"):
            u = urlparse(href)
            if u.scheme not in ("http", "https") or u.hostname != "127.0.0.1":
                continue
            n_links += 1
            target = root / unquote(u.path.lstrip("/"))
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{rel} -> {href}")
    assert not broken, "broken internal links:\n  " + "\n  ".join(sorted(set(broken))[:40])
    assert not problems, "\n  ".join(problems[:40])
    assert n_images >= 40 and n_links > 100, (n_images, n_links)
    ctx.close()


@pytest.mark.parametrize("query", ["focal loss", "batch control"])
def test_search_finds(site, browser, query):
    root, base = site
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(urljoin(base, "index.html"), wait_until="load")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    box = page.locator("input.md-search__input")
    box.fill(query)
    page.wait_for_selector(".md-search-result__item", timeout=30_000)
    results = page.locator(".md-search-result__item").all_inner_texts()
    assert any(all(w in r.lower() for w in query.split()) for r in results), results[:5]
    page.screenshot(path=str(_out() / f"search_{query.replace(' ', '_')}.png"))
    page.close()


def test_screenshots_api_page_and_paper_page(site, browser):
    root, base = site
    out = _out()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(urljoin(base, "index.html"), wait_until="load")
    page.screenshot(path=str(out / "home.png"))

    # an API page: show_doc renders the signature and the parameter table of threshold_for_target
    api = min(p.name for p in root.glob("classify*.html") if "threshold_for_target" in p.read_text())  # classify.learner.html
    page.goto(urljoin(base, api), wait_until="load")
    heading = page.locator("h3:has-text('threshold_for_target'), h2:has-text('threshold_for_target'), h4:has-text('threshold_for_target')").first
    heading.scroll_into_view_if_needed()
    text = page.locator("article").inner_text()
    assert "valid_targets" in text and "target sensitivity" in text, f"no show_doc output on {api}"
    page.evaluate("el => { el.scrollIntoView({block: 'start'}); window.scrollBy(0, -90); }", heading.element_handle())
    page.wait_for_timeout(300)
    page.screenshot(path=str(out / "api_classify.png"))

    # a paper page from its smoke run: its figures
    build = json.loads((root / "build.json").read_text()) if (root / "build.json").is_file() else {}
    page.goto(urljoin(base, "papers/yang2021_pneumoconiosis.html"), wait_until="load")
    page.wait_for_function("[...document.images].every(i => i.complete)", timeout=30_000)
    n = page.evaluate("[...document.images].filter(i => i.naturalWidth > 100).length")
    if build.get("papers", {}).get("yang2021"):
        assert n >= 10, f"the executed Yang et al. page shows {n} figures"
        # the largest figure of the page, centred
        page.evaluate("(() => { const a = [...document.images]; const area = i => i.naturalWidth * i.naturalHeight;"
                      " a.reduce((b, i) => area(i) > area(b) ? i : b).scrollIntoView({block: 'center'}); })()")
        page.wait_for_timeout(300)
    page.screenshot(path=str(out / "paper_yang2021.png"))
    page.close()
