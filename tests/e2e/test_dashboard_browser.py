"""The dashboard in a real browser (Debian's Chromium driven by Playwright, no browser download), with every
request that leaves the machine blocked. An archivist signs in by keyboard, uploads a folder of the corpus (the
answer to its first chunk lost, so the upload resumes from the server's offset), answers the `default`
configuration's decisions by keyboard while a reader watching the same ingest sees no control, finds the AIP by a
word of its DC title, downloads it byte for byte, requests its deletion, and a second admin approves it; the reader
is refused when they forge an upload. /docs renders offline too. A screenshot of each main page is saved (the
directory is printed; AMBER_DASHBOARD_SCREENSHOTS chooses it)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from tests.e2e.conftest import Stack

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
CORPUS_FOLDER = ROOT / ".." / "shared" / "corpus" / "transfers" / "file_format_extensions_only"
# Chromium does not hand requests with a file-backed body to Playwright's routing, so the dropped connection is
# made in the page: the first chunk reaches the server, and its answer is lost as when a connection drops.
DROP_FIRST_CHUNK = """
const send = window.fetch.bind(window);
window.uploadDrops = 0;
window.fetch = async (url, options) => {
  const answer = await send(url, options);
  if (options && options.method === "PUT" && window.uploadDrops === 0) {
    window.uploadDrops += 1;
    throw new TypeError("Failed to fetch");
  }
  return answer;
};
"""
# The first that a decision offers is clicked: `default` asks these (normalization declined, OCR accepted).
CHOICES = ("Do not normalize", "Yes", "Create single SIP and continue processing", "Continue", "Store AIP")
TITLE = "Ledgers of the harbour master"

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() or shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (apt-get install chromium): the browser test needs it",
)


class Browsing:
    """One Chromium; contexts (one per person) that reach nothing but this machine and record console errors."""

    def __init__(self, browser: Browser) -> None:
        self.browser = browser
        self.blocked: list[str] = []
        self.errors: list[str] = []

    def only_local(self, route: Route) -> None:
        request = route.request
        if urlparse(request.url).hostname not in ("127.0.0.1", "localhost"):
            self.blocked.append(request.url)
            route.abort()
        else:
            route.continue_()

    def person(self) -> tuple[BrowserContext, Page]:
        context = self.browser.new_context(accept_downloads=True, viewport={"width": 1366, "height": 800})
        context.route("**/*", self.only_local)
        page = context.new_page()
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        return context, page


@pytest.fixture()
def browsing() -> Iterator[Browsing]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield Browsing(browser)
        finally:
            browser.close()


def transfer_folder(tmp_path: Path) -> Path:
    """A corpus folder (the sample transfer when the corpus is absent) with a DC title in metadata.csv."""
    folder = tmp_path / "harbour-ledgers"
    source = CORPUS_FOLDER if CORPUS_FOLDER.is_dir() else ROOT / "samples" / "demo-transfer" / "objects"
    shutil.copytree(source, folder / "objects")
    (folder / "metadata").mkdir()
    (folder / "metadata" / "metadata.csv").write_text(f'filename,dc.title\nobjects,"{TITLE}"\n')
    return folder


def sign_in(page: Page, gateway: str, username: str, key: str) -> None:
    """By keyboard: the username field has the focus, Tab to the key, Enter."""
    page.goto(gateway + "/dashboard/")
    assert "/dashboard/sign-in" in page.url
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(key)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "sign-in" not in url)


def new_user(stack: Stack, username: str, role: str) -> str:
    with stack.client() as api:
        assert api.post("/api/v1/users", json={"username": username, "role": role}).status_code == 201
        created = api.post("/api/v1/keys", json={"username": username, "name": "browser test"})
        assert created.status_code == 201, created.text
        return str(created.json()["key"])


def test_archivist_path_in_a_browser(stack: Stack, browsing: Browsing, tmp_path: Path) -> None:
    shots = Path(os.environ.get("AMBER_DASHBOARD_SCREENSHOTS") or tmp_path / "screenshots")
    shots.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots in {shots}")
    started = time.monotonic()
    gateway = stack.gateway
    username, key = stack.auth.removeprefix("ApiKey ").split(":", 1)
    folder = transfer_folder(tmp_path)
    reader_name, second_name = f"rita-{uuid.uuid4().hex[:6]}", f"sam-{uuid.uuid4().hex[:6]}"
    reader_key, second_key = new_user(stack, reader_name, "reader"), new_user(stack, second_name, "admin")
    _, p = browsing.person()
    _, reader = browsing.person()

    def shot(name: str, page: Page | None = None) -> None:
        (page or p).screenshot(path=str(shots / f"{name}.png"), full_page=True)

    p.goto(gateway + "/dashboard/")
    shot("sign-in")
    sign_in(p, gateway, username, key)
    cookie = next(c for c in p.context.cookies() if c["name"] == "amber_dashboard")
    # Secure only over HTTPS (the stack here is plain HTTP on loopback); never readable by scripts.
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]
    shot("processing")
    sign_in(reader, gateway, reader_name, reader_key)

    # Upload the folder with the `default` configuration (it asks a person at several points).
    p.add_init_script(DROP_FIRST_CHUNK)
    p.goto(gateway + "/dashboard/transfers/new")
    p.set_input_files("#upload-folder", str(folder))
    assert p.input_value("#upload-name") == "harbour-ledgers"
    p.select_option("#upload-config", "default")
    shot("transfer-new")
    p.focus("#upload-start")
    p.keyboard.press("Enter")
    p.wait_for_selector("text=Connection lost; resuming", timeout=30_000)
    p.wait_for_url("**/dashboard/transfers/*", timeout=30_000)
    p.wait_for_selector("#ingest-link", timeout=30_000)
    shot("transfer")
    p.focus("#ingest-link")
    p.keyboard.press("Enter")
    p.wait_for_url("**/dashboard/ingests/*")
    ingest_url = p.url

    # Each decision answered with one keypress on its button; the page follows the ingest by polling. The reader,
    # on the same page, sees the question but no button.
    answered: list[str] = []
    deadline = time.monotonic() + 120
    while not p.locator("#aip-link").count():
        assert time.monotonic() < deadline, p.inner_text("#ingest")
        assert not p.locator(".status-failed").count(), p.inner_text("#ingest")
        for choice in CHOICES:
            button = p.locator(f'#decision button[value="{choice}"]')
            if button.count():
                answered.append(p.inner_text("#decision-title"))
                if len(answered) == 1:
                    shot("decision")
                    reader.goto(ingest_url)
                    assert reader.locator("#decision").count() and not reader.locator("#decision button").count()
                    assert not reader.locator("text=Cancel ingest").count()
                    # The first one is answered from the processing list, in one keypress too.
                    p.goto(gateway + "/dashboard/processing")
                    shot("processing-decision")
                    with p.expect_navigation():
                        p.locator(f'#ingests button[value="{choice}"]').first.press("Enter")
                    assert p.url.endswith("/dashboard/processing")
                    p.goto(ingest_url)
                    break
                with p.expect_navigation():
                    button.first.press("Enter")
                break
        else:
            p.wait_for_timeout(300)
    assert len(answered) >= 3, answered
    shot("ingest")

    # Find the AIP by a word of its DC title, open it and download it: the very bytes stored.
    p.goto(gateway + "/dashboard/aips?q=harbour")
    shot("aips")
    p.click("#aip-results a")
    p.wait_for_selector("#download-aip")
    assert TITLE in p.inner_text("main")
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
    # One file of it, as the API gives it; then a fixity check, which joins the AIP's fixity history.
    file_link = p.get_attribute("a[download]:text-is('file')", "href") or ""
    with stack.client() as api:
        expected = api.get("/api/v1" + file_link.removeprefix("/dashboard")).content
    assert file_link and p.request.get(gateway + file_link).body() == expected
    with p.expect_navigation():
        p.click("text=Check fixity now")
    assert "Pass" in p.inner_text("#fixity ~ table")

    # The reader sees no upload, decision, deletion or admin control, and a forged upload is refused.
    for path in ("/dashboard/transfers/new", f"/dashboard/aips/{aip_uuid}", "/dashboard/processing"):
        reader.goto(gateway + path)
        assert not reader.locator('#upload-form, #deletion-reason, a[href^="/dashboard/admin"]').count(), path
    shot("reader-processing", reader)
    csrf = reader.get_attribute("input[name=csrf_token]", "value")
    forged = reader.request.post(gateway + "/dashboard/uploads", headers={
        "X-CSRF-Token": csrf or "", "Accept": "application/json", "Content-Type": "application/json",
    }, data={"name": "forged", "size": 1, "sha256": "0" * 64})
    assert forged.status == 403 and "archivist" in forged.json()["detail"]

    # The archivist asks for the deletion; a second administrator approves it.
    assert p.locator("#deletion-reason").count(), p.url + "\n" + p.inner_text("main")[:1500]
    p.fill("#deletion-reason", "Accessioned twice by mistake")
    p.click("text=Request deletion")
    p.wait_for_url(f"**/dashboard/aips/{aip_uuid}*")
    _, second = browsing.person()
    sign_in(second, gateway, second_name, second_key)
    second.goto(gateway + "/dashboard/deletions")
    shot("deletions", second)
    with second.expect_navigation():
        second.click("text=Approve deletion")
    assert "approved" in second.inner_text("main")
    with stack.client() as api:
        assert api.get(f"/api/v1/aips/{aip_uuid}").json()["status"] == "deleted"

    # A folder of a transfer-source location, browsed to, started to wait for approval, then rejected.
    source = stack.data_dir / "storage" / "transfer-source" / "boxes" / "box-7"
    shutil.copytree(ROOT / "samples" / "demo-transfer", source)
    p.goto(gateway + "/dashboard/transfers/new")
    p.click("text=boxes/")
    p.wait_for_url("**path=boxes*")
    row = p.locator("tr", has_text="box-7")
    row.locator("select").select_option("automated")
    row.locator("input[name=auto_approve]").uncheck()
    shot("transfer-source")
    with p.expect_navigation():
        row.locator("button", has_text="Start").click()
    p.wait_for_selector("#transfer-status >> text=awaiting approval", timeout=30_000)
    p.fill("#reason", "Not ours to keep")
    with p.expect_navigation():
        p.click("button.danger >> text=Reject")
    assert "rejected" in p.inner_text("#transfer-status")

    # The other main pages render, and the API docs render from vendored files with the network cut off.
    for name, path in (("transfers", "/dashboard/transfers"),
                       ("users", "/dashboard/admin/users"), ("locations", "/dashboard/admin/locations"),
                       ("configurations", "/dashboard/admin/processing-configurations"),
                       ("configuration-default", "/dashboard/admin/processing-configurations/default"),
                       ("format-rules", "/dashboard/admin/format-rules")):
        response = p.goto(gateway + path)
        assert response is not None and response.status == 200, path
        shot(name)
    # A processing configuration made with the form, then replaced by an imported processingMCP.xml (exported
    # from `default`), whose points then ask a person as `default`'s do.
    name = f"night-{uuid.uuid4().hex[:6]}"
    p.goto(gateway + "/dashboard/admin/processing-configurations")
    p.fill("#new-name", name)
    with p.expect_navigation():
        p.press("#new-name", "Enter")
    p.select_option("#point-virus_scanning", "No")
    with p.expect_navigation():
        p.click('button:has-text("Save")')
    assert p.input_value("#point-virus_scanning") == "No" and p.input_value("#point-store_aip") == "Store AIP"
    p.goto(gateway + "/dashboard/admin/processing-configurations/default")
    with p.expect_download() as exported:
        p.click("text=Export")
    assert b"<processingMCP>" in Path(exported.value.path()).read_bytes()
    p.goto(gateway + f"/dashboard/admin/processing-configurations/{name}")
    p.set_input_files("#document", exported.value.path())
    with p.expect_navigation():
        p.click('button:has-text("Import")')
    assert p.input_value("#point-store_aip") == "ask"

    p.goto(gateway + "/docs")
    p.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    p.wait_for_selector(".opblock", timeout=15_000)
    shot("api-docs")

    p.goto(gateway + "/dashboard/processing")
    p.click("text=Sign out")
    p.wait_for_url("**/dashboard/sign-in")
    p.goto(gateway + "/dashboard/aips")
    assert "/dashboard/sign-in" in p.url

    assert browsing.blocked == []
    assert browsing.errors == []
    assert time.monotonic() - started < 180  # ~35 s on an idle machine
