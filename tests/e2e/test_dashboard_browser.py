"""The dashboard in a real browser (Debian's Chromium driven by Playwright, no browser download), with every
request that leaves the machine blocked: sign in, upload a folder, answer the `default` configuration's decisions
by keyboard, watch it reach a stored AIP, find it, download it byte for byte, open /docs, sign out. A screenshot of
each main page is saved (the directory is printed, and kept in AMBER_DASHBOARD_SCREENSHOTS when that is set)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from tests.e2e.conftest import Stack

CHROMIUM = "/usr/bin/chromium"
SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "demo-transfer"
CHOICES = ("Yes", "Create single SIP and continue processing", "Continue", "Store AIP")

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (apt-get install chromium): the browser test needs it",
)


@pytest.fixture()
def browser_page(tmp_path: Path) -> Iterator[tuple[Page, list[str], list[str]]]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1366, "height": 800})
        blocked: list[str] = []
        errors: list[str] = []

        def only_local(route: Route) -> None:
            host = urlparse(route.request.url).hostname
            if host in ("127.0.0.1", "localhost"):
                route.continue_()
            else:
                blocked.append(route.request.url)
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield page, blocked, errors
        finally:
            context.close()
            browser.close()


def test_archivist_path_in_a_browser(stack: Stack, browser_page: tuple[Page, list[str], list[str]],
                                     tmp_path: Path) -> None:
    page, blocked, errors = browser_page
    p = page
    shots = Path(os.environ.get("AMBER_DASHBOARD_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots in {shots}")
    started = time.monotonic()
    username, key = stack.auth.removeprefix("ApiKey ").split(":", 1)

    def shot(name: str) -> None:
        p.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    # Signing in, by keyboard only.
    p.goto(stack.gateway + "/dashboard/")
    assert "/dashboard/sign-in" in p.url
    shot("sign-in")
    p.keyboard.type(username)  # the username field has the focus
    p.keyboard.press("Tab")
    p.keyboard.type(key)
    p.keyboard.press("Enter")
    p.wait_for_url(lambda url: "sign-in" not in url)
    cookie = next(c for c in p.context.cookies() if c["name"] == "amber_dashboard")
    # Secure only over HTTPS (the stack here is plain HTTP on loopback); never readable by scripts.
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    shot("processing")

    # Upload a folder with the `default` configuration (it asks a person at several points).
    p.goto(stack.gateway + "/dashboard/transfers/new")
    p.set_input_files("#upload-folder", str(SAMPLE))
    assert p.input_value("#upload-name") == "demo-transfer"
    p.select_option("#upload-config", "default")
    shot("transfer-new")
    p.focus("#upload-start")
    p.keyboard.press("Enter")
    p.wait_for_url("**/dashboard/transfers/*", timeout=30_000)
    p.wait_for_selector("#ingest-link", timeout=30_000)
    shot("transfer")
    p.focus("#ingest-link")
    p.keyboard.press("Enter")
    p.wait_for_url("**/dashboard/ingests/*")

    # Each decision answered in one keypress on its button; the page follows the ingest by polling.
    answered: list[str] = []
    deadline = time.monotonic() + 120
    while not p.locator("#aip-link").count():
        assert time.monotonic() < deadline, p.inner_text("#ingest")
        assert not p.locator(".status-failed").count(), p.inner_text("#ingest")
        for choice in CHOICES:
            button = p.locator(f'#decision button[value="{choice}"]')
            if button.count():
                if not answered:
                    shot("decision")
                answered.append(p.inner_text("#decision-title"))
                with p.expect_navigation():
                    button.first.press("Enter")
                break
        else:
            p.wait_for_timeout(300)
    assert len(answered) >= 3, answered
    shot("ingest")

    # Find the AIP by a word of its name, open it and download it: the very bytes stored.
    p.goto(stack.gateway + "/dashboard/aips?q=demo")
    shot("aips")
    p.click("#aip-results a")
    p.wait_for_selector("#download-aip")
    shot("aip")
    aip_uuid = p.url.rstrip("/").rsplit("/", 1)[1]
    with p.expect_download() as downloading:
        p.focus("#download-aip")
        p.keyboard.press("Enter")
    downloaded = Path(downloading.value.path())
    with stack.client() as api:
        stored = api.get(f"/api/v1/aips/{aip_uuid}").json()
    assert hashlib.sha256(downloaded.read_bytes()).hexdigest() == stored["sha256"]
    assert downloaded.stat().st_size == stored["size"]

    # The other main pages render, and the API docs render from vendored files with the network cut off.
    for name, path in (("transfers", "/dashboard/transfers"), ("deletions", "/dashboard/deletions"),
                       ("users", "/dashboard/admin/users"), ("locations", "/dashboard/admin/locations"),
                       ("configurations", "/dashboard/admin/processing-configurations"),
                       ("configuration-default", "/dashboard/admin/processing-configurations/default"),
                       ("format-rules", "/dashboard/admin/format-rules")):
        response = p.goto(stack.gateway + path)
        assert response is not None and response.status == 200, path
        shot(name)
    p.goto(stack.gateway + "/docs")
    p.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    p.wait_for_selector(".opblock", timeout=15_000)
    shot("api-docs")

    p.goto(stack.gateway + "/dashboard/processing")
    p.click("text=Sign out")
    p.wait_for_url("**/dashboard/sign-in")
    p.goto(stack.gateway + "/dashboard/aips")
    assert "/dashboard/sign-in" in p.url

    assert blocked == []
    assert errors == []
    assert time.monotonic() - started < 90
