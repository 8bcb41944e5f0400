"""A real OpenID Connect provider (the npm package ``oidc-provider``, ``tests/peers/oidc/provider.mjs``) on a
free loopback port, and a browser-like walk through its sign-in pages.

``make test`` installs it (``npm ci`` in tests/peers/oidc). Without ``node`` the tests that need it are
skipped, except in CI (``CI=true``), where they fail."""

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests

from tests.unavailable import unavailable

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "onevisit"
CLIENT_SECRET = "onevisit-test-secret"
#: Where the Flask test client's app lives (``url_for(..., _external=True)`` under the test client).
APP_BASE = "http://localhost"
CALLBACK = f"{APP_BASE}/sign-in/hospital/callback"
ROLE_MAP = {"daycare-desk": "front_desk", "daycare-coord": "coordinator", "daycare-admin": "admin"}


@dataclass
class OidcProvider:
    issuer: str
    process: subprocess.Popen

    def config(self) -> dict:
        """The app settings for this provider (flat names, as ``app_config`` takes them)."""
        return provider_config(self.issuer)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def provider_config(issuer: str) -> dict:
    """The app settings (flat names) for a test provider at ``issuer``."""
    return {
        "OIDC_ISSUER": issuer,
        "OIDC_CLIENT_ID": CLIENT_ID,
        "OIDC_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_SCOPES": "openid profile email groups",
        "OIDC_ROLES_CLAIM": "groups",
        "OIDC_ROLE_MAP": ROLE_MAP,
        "OIDC_TIMEOUT_SECONDS": 5,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_provider(*, port: int, redirect_uri: str) -> OidcProvider:
    """Start ``provider.mjs`` on ``127.0.0.1:port`` for a client coming back to ``redirect_uri``; skips (or, in
    CI, fails) without ``node``."""
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (the test OpenID Connect provider runs on Node.js)",
                    in_ci="CI must run the OpenID Connect tests")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail(f"the test OpenID Connect provider is not installed: run `npm ci` in {PROVIDER_DIR} "
                    "(`make test` does)")
    env = {**os.environ, "PORT": str(port), "REDIRECT_URI": redirect_uri, "CLIENT_ID": CLIENT_ID,
           "CLIENT_SECRET": CLIENT_SECRET}
    process = subprocess.Popen([node, "provider.mjs"], cwd=PROVIDER_DIR, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    provider = OidcProvider(issuer=f"http://127.0.0.1:{port}", process=process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the test OpenID Connect provider exited ({process.returncode})")
        try:
            requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=1).raise_for_status()
            return provider
        except requests.RequestException:
            time.sleep(0.1)
    provider.stop()
    pytest.fail("the test OpenID Connect provider did not start within 30 s")


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    """A provider for apps under the Flask test client (their callback is on ``http://localhost``)."""
    provider = start_provider(port=free_port(), redirect_uri=CALLBACK)
    yield provider
    provider.stop()


_FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)
_ACTION = re.compile(r'action="([^"]*)"', re.I)
_INPUT = re.compile(r"<input\b[^>]*>", re.I)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def _form(html: str, login: str) -> tuple[str, dict[str, str]]:
    """The first form of a provider page, filled in: its hidden fields, ``login`` and a password."""
    form = _FORM.search(html)
    if form is None:
        raise AssertionError(f"no form on the provider's page:\n{html[:2000]}")
    action = unescape(_ACTION.search(form.group(0)).group(1))
    data: dict[str, str] = {}
    for tag in _INPUT.findall(form.group(0)):
        attrs = {k.lower(): unescape(v) for k, v in _ATTR.findall(tag)}
        name = attrs.get("name")
        if not name:
            continue
        if name == "login":
            data[name] = login
        elif name == "password":
            data[name] = "any-password"
        else:
            data[name] = attrs.get("value", "")
    return action, data


def walk_provider(authorize_url: str, login: str) -> str:
    """Follow the provider from the authorization URL like a browser, signing in as ``login`` and
    consenting, until it redirects back to the app; returns that redirect's path and query."""
    browser = requests.Session()
    response = browser.get(authorize_url, allow_redirects=False, timeout=10)
    for _ in range(20):
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(APP_BASE + "/"):
                parts = urlsplit(location)
                return f"{parts.path}?{parts.query}"
            response = browser.get(location, allow_redirects=False, timeout=10)
        elif response.status_code == 200:
            action, data = _form(response.text, login)
            response = browser.post(urljoin(response.url, action), data=data, allow_redirects=False, timeout=10)
        else:
            raise AssertionError(f"the provider answered {response.status_code}:\n{response.text[:2000]}")
    raise AssertionError("the provider never redirected back to the app")
