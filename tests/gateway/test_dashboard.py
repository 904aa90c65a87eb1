"""The dashboard over real HTTP against a real gateway: sign-in and its login-CSRF guard, the session cookie, CSRF
refusal of a forged form, a reader refused admin pages and actions by the API itself, sign-out, offline /docs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from cryptography.exceptions import InvalidTag

from gateway.dashboard import sealing
from gateway.keys.admin import ensure_admin
from gateway.main import create_app
from tests.conftest import bound_socket, serve_http
from tests.gateway.harness import dead_url, gateway_settings


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
