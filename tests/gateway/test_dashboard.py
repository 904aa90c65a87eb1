"""The dashboard over real HTTP against a real gateway: sign-in and its login-CSRF guard, the session cookie, CSRF
refusal of a forged form, a reader refused admin pages and actions by the API itself, sign-out, offline /docs; an
AIP's page finds its DIP among many through the storage API's filter."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidTag

from clients.storage import StorageClient
from clients.storage.schemas import LocationPurpose, PackageStatus, PackageType
from gateway.dashboard import sealing
from gateway.keys.admin import ensure_admin
from gateway.main import create_app
from servicekit.db import unit_of_work, utcnow
from services.metadata.main import create_app as create_metadata
from services.metadata.settings import MetadataSettings
from services.storage.main import create_app as create_storage
from services.storage.packages.models import Package
from services.storage.packages.repository import PackageRepository
from services.storage.settings import StorageSettings
from tests.conftest import bound_socket, serve_http
from tests.gateway.harness import INTERNAL_TOKEN, dead_url, gateway_settings


@pytest.fixture()
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    sock = bound_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = gateway_settings(tmp_path, dead_url(), dashboard_api_url=url)
    created = await ensure_admin(settings)
    assert created is not None
    async with serve_http(create_app(settings), sock) as served:
        yield served, created[1]


async def sign_in(client: httpx.AsyncClient, username: str, key: str) -> httpx.Response:
    form = await client.get("/dashboard/sign-in")
    nonce = re.search(r'name="nonce" value="([^"]+)"', form.text)
    assert nonce
    return await client.post("/dashboard/sign-in", data={
        "username": username, "key": key, "nonce": nonce.group(1), "next": "/dashboard/admin/users",
    })


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


async def test_sign_in_csrf_roles_and_sign_out(gateway: tuple[str, str]) -> None:
    url, admin_key = gateway
    async with httpx.AsyncClient(base_url=url) as admin, httpx.AsyncClient(base_url=url) as reader:
        # No session: every page sends the browser to the sign-in form, remembering where it was going.
        page = await admin.get("/dashboard/aips")
        assert page.status_code == 303 and page.headers["location"] == "/dashboard/sign-in?next=/dashboard/aips"
        # A sign-in post without the form's own nonce (login CSRF) and a wrong key are both refused.
        forged = await admin.post("/dashboard/sign-in", data={"username": "admin", "key": admin_key, "nonce": "x"})
        assert forged.status_code == 403 and "amber_dashboard" not in forged.cookies
        assert (await sign_in(admin, "admin", "not-the-key")).status_code == 401

        signed_in = await sign_in(admin, "admin", admin_key)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/dashboard/admin/users"
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and admin_key not in cookie
        users = await admin.get("/dashboard/admin/users")
        assert users.status_code == 200 and "Users and keys" in users.text
        csrf = csrf_of(users.text)

        # A form posted without the CSRF token, or from another origin, changes nothing.
        refused = await admin.post("/dashboard/admin/users", data={"username": "mallory", "role": "admin"})
        assert refused.status_code == 403
        other_origin = await admin.post("/dashboard/admin/users", headers={"Origin": "http://evil.example"},
                                        data={"username": "mallory", "role": "admin", "csrf_token": csrf})
        assert other_origin.status_code == 403
        assert "mallory" not in (await admin.get("/dashboard/admin/users")).text

        # The admin creates a reader and a key for them through the dashboard.
        made = await admin.post("/dashboard/admin/users",
                                data={"username": "rita", "role": "reader", "csrf_token": csrf})
        assert made.status_code == 303
        key_page = await admin.post("/dashboard/admin/keys",
                                    data={"username": "rita", "name": "t", "csrf_token": csrf})
        reader_key = re.search(r'id="new-key" readonly value="([^"]+)"', key_page.text)
        assert reader_key

        # The reader sees no admin link, the API refuses them the admin pages, and a forged admin action (with
        # the reader's own valid CSRF token) is refused by the API: the dashboard can do no more than their key.
        await sign_in(reader, "rita", reader_key.group(1))
        refused_page = await reader.get("/dashboard/admin/users")
        assert refused_page.status_code == 403 and "needs role admin" in refused_page.text
        assert "Users and keys" not in refused_page.text and "rita" in refused_page.text
        reader_csrf = re.search(r'name="csrf_token" value="([^"]+)"', refused_page.text)
        assert reader_csrf
        forged_action = await reader.post("/dashboard/admin/users", data={
            "username": "mallory", "role": "admin", "csrf_token": reader_csrf.group(1)})
        assert forged_action.status_code == 403
        assert "mallory" not in (await admin.get("/dashboard/admin/users")).text

        # Signing out ends the session on the server: the old cookie opens nothing.
        old = admin.cookies.get("amber_dashboard")
        out = await admin.post("/dashboard/sign-out", data={"csrf_token": csrf})
        assert out.status_code == 303
        async with httpx.AsyncClient(base_url=url, cookies={"amber_dashboard": old or ""}) as replayer:
            replay = await replayer.get("/dashboard/admin/users")
        assert replay.status_code == 303 and "/dashboard/sign-in" in replay.headers["location"]

        # /docs loads nothing from another host, and its assets are served here.
        docs = (await admin.get("/docs")).text
        assert "cdn" not in docs.lower() and "/dashboard/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs
        asset = await admin.get("/dashboard/static/vendor/swagger-ui/swagger-ui-bundle.js")
        assert asset.status_code == 200 and len(asset.content) > 1_000_000


def test_the_stored_session_opens_nothing_without_the_cookie() -> None:
    """The row keeps the token's hash and the key sealed under the token: another token cannot unseal it, and
    neither the hash nor the sealed bytes contain the key or the token."""
    token, key = sealing.new_token(), "the-users-api-key"
    sealed = sealing.seal(token, key)
    assert sealing.unseal(token, sealed) == key
    assert key.encode() not in sealed and token not in sealing.token_id(token)
    with pytest.raises(InvalidTag):
        sealing.unseal(sealing.new_token(), sealed)
    assert sealing.csrf_matches(token, sealing.csrf_token(token))
    assert not sealing.csrf_matches(token, sealing.csrf_token(sealing.new_token()))
    assert not sealing.csrf_matches(token, None)


async def test_aip_page_finds_its_dip_beyond_the_first_hundreds(tmp_path: Path) -> None:
    """Real storage and metadata services behind the gateway: 500 DIPs of another AIP are stored before the DIP
    of ours, so a page that listed DIPs and picked its own would miss it; the storage filter finds it."""
    sockets = {name: bound_socket() for name in ("metadata", "storage", "gateway")}
    urls = {name: f"http://127.0.0.1:{sock.getsockname()[1]}" for name, sock in sockets.items()}
    common: dict[str, Any] = {"data_dir": tmp_path, "internal_token": INTERNAL_TOKEN, "metadata_url": urls["metadata"]}
    settings = gateway_settings(tmp_path / "gateway", dead_url(), storage_url=urls["storage"],
                                metadata_url=urls["metadata"], dashboard_api_url=urls["gateway"],
                                # Its long poll of the services' outboxes would hold their shutdown for 20 s.
                                events_collect=False)
    created = await ensure_admin(settings)
    assert created is not None
    apps = {
        "metadata": create_metadata(MetadataSettings(**common)),
        "storage": create_storage(StorageSettings(**common, fixity_audit_interval_seconds=0)),
        "gateway": create_app(settings),
    }
    package = tmp_path / "package.7z"
    package.write_bytes(b"not opened by this page\n")
    digest = hashlib.sha256(package.read_bytes()).hexdigest()
    aip, other_aip, dip = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    async with AsyncExitStack() as stack:
        for name, app in apps.items():
            await stack.enter_async_context(serve_http(app, sockets[name]))
        storage = await stack.enter_async_context(StorageClient(urls["storage"], token=INTERNAL_TOKEN, retries=0))
        await storage.store_aip(aip, "harbour", digest, package)
        # The others are written as rows of the storage service (stored through its API they would take ten
        # seconds); ours is stored through the API, after them.
        dip_storage = await storage.list_locations(LocationPurpose.dip_storage)
        async with unit_of_work(apps["storage"].state.sessions) as session:
            for index in range(500):
                await PackageRepository(session).add(Package(
                    uuid=uuid.uuid4(), name=f"other-{index}", package_type=PackageType.dip,
                    status=PackageStatus.stored, location_uuid=dip_storage[0].uuid, current_path=f"other-{index}.7z",
                    related_package_uuid=other_aip, created_at=utcnow() - timedelta(hours=1),
                ))
        await storage.store_dip(dip, "harbour-dip", digest, package, aip_uuid=aip)
        browser = await stack.enter_async_context(httpx.AsyncClient(base_url=urls["gateway"], timeout=60))
        assert (await sign_in(browser, "admin", created[1])).status_code == 303
        page = await browser.get(f"/dashboard/aips/{aip}")
        assert page.status_code == 200, page.text
        links = re.findall(r'href="/dashboard/packages/([0-9a-f-]+)/download"', page.text)
        assert links == [str(dip)]
