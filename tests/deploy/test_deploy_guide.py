"""docs/deploy.md, followed to the letter on a fresh PostgreSQL database.

The shell blocks marked ``<!-- tested: NAME -->`` in the guide are read from it and run as they stand
(bash, from the checkout, with the environment a production host's ``/etc/onevisit/onevisit.env`` gives):
migrate, load the policy, create the administrator, serve with the real ``deploy/gunicorn.conf.py``, sign
in and book a visit over HTTP as a browser behind the TLS proxy would, back up, lose the database, restore,
serve again and find the same visit. PostgreSQL is the server at ``PGHOST``/``PGPORT``/``PGUSER``
(default 127.0.0.1:5432, ``postgres``); without it or ``pg_dump`` the test is skipped, except in CI
(``CI=true``), where that fails.
"""

import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unavailable import unavailable

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "deploy.md"
BLOCK = re.compile(r"<!-- tested: ([\w-]+) -->\n```sh\n(.*?)```", re.S)
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')
ONE_TIME = re.compile(r"One-time password for (\S+): (\S+)")
CHOICE = re.compile(r'name="choice" value="([^"]+)"')
BOOK_ACTION = re.compile(r'action="(/book/patient/\d+/book[^"]*)"')
PATHWAY_SELECT = re.compile(r'<select[^>]*name="pathway"[^>]*>(.*?)</select>', re.S)
OPTION = re.compile(r'<option[^>]*value="(\d+)"')
NEW_PASSWORD = "teal-harbour-lantern-4711"
IN_CI = "CI must run the deployment guide's test on PostgreSQL"
#: What the TLS proxy adds to every request (deploy/Caddyfile, deploy/nginx.conf).
PROXY_HEADERS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Host": "onevisit.test"}
PATIENT = {
    "mrn": "DEPLOY01", "given_name": "Rosa", "family_name": "Restore", "birth_date": "1950-03-04",
    "phone": "06 1234 5678", "email": "", "language": "nl", "channel": "sms", "address_line": "Dorpsstraat 1",
    "postcode": "3511 AA", "city": "Utrecht", "distance_km": "12.5", "consent": "y",
}


def guide_blocks() -> dict[str, str]:
    return {name: body for name, body in BLOCK.findall(GUIDE.read_text(encoding="utf-8"))}


def test_the_guide_marks_every_step_the_test_follows() -> None:
    assert set(guide_blocks()) >= {"migrate", "policy", "admin", "serve", "worker", "hl7", "backup", "restore"}


@pytest.fixture
def pg() -> dict[str, str]:
    """libpq's connection variables for the PostgreSQL server the guide's commands use."""
    conn = {
        "PGHOST": os.environ.get("PGHOST", "127.0.0.1"),
        "PGPORT": os.environ.get("PGPORT", "5432"),
        "PGUSER": os.environ.get("PGUSER", "postgres"),
    }
    for tool in ("pg_dump", "pg_restore", "createdb", "dropdb", "pg_isready"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed (apt-get install postgresql-client)", in_ci=IN_CI)
    ready = subprocess.run(["pg_isready", "-q", "-h", conn["PGHOST"], "-p", conn["PGPORT"]], check=False)
    if ready.returncode != 0:
        unavailable(f"PostgreSQL is not reachable at {conn['PGHOST']}:{conn['PGPORT']}", in_ci=IN_CI)
    return conn


def _psql(pg: dict[str, str], sql: str) -> str:
    result = subprocess.run(
        ["psql", "-X", "-q", "-At", "-d", "postgres", "-c", sql],
        env={**os.environ, **pg}, capture_output=True, text=True, check=True,
    )
    return result.stdout.strip()


@pytest.fixture
def database(pg: dict[str, str]) -> Iterator[str]:
    name = f"onevisit_deploy_{uuid.uuid4().hex[:10]}"
    _psql(pg, f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _psql(pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def host_env(pg: dict[str, str], database: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a production host: docs/deploy.md's environment file, the virtualenv on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEVISIT_", "FLASK_", "GUNICORN_"))}
    env.pop("DATABASE_URL", None)
    env.pop("SECRET_KEY", None)
    env.update(pg)
    env.update({
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(ROOT),
        "ONEVISIT_ENV": "production",
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "DATABASE_URL": f"postgresql+psycopg://{pg['PGUSER']}@{pg['PGHOST']}:{pg['PGPORT']}/{database}",
        "ONEVISIT_INSTANCE_PATH": str(tmp_path / "instance"),
        "ONEVISIT_PROXY_COUNT": "1",
        "ONEVISIT_PUBLIC_BASE_URL": "https://onevisit.test",
        "ONEVISIT_LOG_FORMAT": "json",
        "GUNICORN_WORKERS": "1",
        "BACKUP_DIR": str(tmp_path / "backups"),
        "KEEP_DAYS": "14",
        "RESTORE_DB": database,
        "DB_OWNER": pg["PGUSER"],
    })
    return env


def run_block(name: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", guide_blocks()[name]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert result.returncode == 0, f"docs/deploy.md block {name!r} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


class Served:
    """The guide's ``serve`` block running on a free loopback port, stopped like systemd stops it (SIGTERM)."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out = log_dir / f"gunicorn-{self.port}.out"
        self.err = log_dir / f"gunicorn-{self.port}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.process = subprocess.Popen(
                ["bash", "-c", "exec " + guide_blocks()["serve"].strip()],
                cwd=ROOT, env={**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}, stdout=out, stderr=err,
                start_new_session=True,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited ({self.process.returncode}):\n{self.err.read_text()}")
            try:
                if requests.get(self.base + "/healthz", timeout=5).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.3)
        self.stop()
        raise AssertionError(f"gunicorn did not answer /healthz within 90 s:\n{self.err.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Browser:
    """Requests as a browser behind the TLS proxy sends them: the proxy's headers, cookies kept (the app's
    cookies are ``Secure``, which a client talking plain HTTP to gunicorn would otherwise drop), no redirects
    followed (they point at https://)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, *, referer: str | None = None, **kwargs):
        import requests

        headers = dict(PROXY_HEADERS)
        if referer:  # Flask-WTF checks the Referer of a POST that came over https
            headers["Referer"] = f"https://{PROXY_HEADERS['X-Forwarded-Host']}{referer}"
        response = requests.request(
            method, self.base + path, headers=headers, cookies=dict(self.cookies),
            allow_redirects=False, timeout=90, **kwargs,
        )
        self.cookies.update(response.cookies.get_dict())
        return response

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post_form(self, path: str, data: dict, *, form_page: str | None = None):
        page = self.get(form_page or path)
        assert page.status_code == 200, (form_page or path, page.status_code)
        match = TOKEN.search(page.text)
        assert match, f"no CSRF token on {form_page or path}"
        token = html.unescape(match.group(1) or match.group(2))
        return self.request("POST", path, data={**data, "csrf_token": token}, referer=form_page or path)


def _path(location: str) -> str:
    """``https://onevisit.test/visits/3`` -> ``/visits/3``: the redirects name the proxy's address."""
    return re.sub(r"^https?://[^/]+", "", location)


def sign_in(browser: Browser, username: str, password: str) -> str:
    response = browser.post_form("/sign-in", {"username": username, "password": password})
    assert response.status_code == 302, f"sign-in as {username} answered {response.status_code}"
    return _path(response.headers["Location"])


def book_a_visit(browser: Browser) -> str:
    registered = browser.post_form("/book/register", PATIENT)
    assert registered.status_code == 302, registered.text[:2000]
    plan = _path(registered.headers["Location"])
    start = browser.get(plan)
    pathways = OPTION.findall(PATHWAY_SELECT.search(start.text).group(1))
    assert pathways, "the policy loaded no pathway to book"
    for pathway in pathways:
        url = f"{plan}?pathway={pathway}"
        page = browser.get(url)
        choices = CHOICE.findall(page.text)
        if page.status_code == 200 and choices:
            break
    else:
        raise AssertionError("no pathway of the policy had a proposal to book")
    action = html.unescape(BOOK_ACTION.search(page.text).group(1))
    booked = browser.post_form(action, {"choice": html.unescape(choices[0])}, form_page=url)
    assert booked.status_code == 302, booked.text[:2000]
    visit = _path(booked.headers["Location"])
    assert re.match(r"^/visits/\d+", visit), visit
    return visit


@pytest.mark.postgres
def test_the_guide_deploys_backs_up_and_restores(
    host_env: dict[str, str], pg: dict[str, str], database: str, tmp_path: Path
) -> None:
    run_block("migrate", host_env)
    assert "Loaded:" in run_block("policy", host_env)
    created = ONE_TIME.search(run_block("admin", host_env))
    assert created, "flask users create printed no one-time password"
    admin, one_time = created.groups()

    served = Served(host_env, tmp_path)
    try:
        browser = Browser(served.base)
        assert sign_in(browser, admin, one_time).startswith("/account/password")
        changed = browser.post_form(
            "/account/password",
            {"current_password": one_time, "new_password": NEW_PASSWORD, "repeat": NEW_PASSWORD},
        )
        assert changed.status_code == 302, changed.text[:2000]
        visit_url = book_a_visit(browser)
        visit_page = browser.get(visit_url)
        assert visit_page.status_code == 200 and "Rosa" in visit_page.text and "Restore" in visit_page.text
        # the proxy setting works: the request counts as https, so the app sends HSTS and Secure cookies
        assert "max-age=" in visit_page.headers.get("Strict-Transport-Security", "")
    finally:
        served.stop()
    access = [json.loads(line) for line in served.out.read_text().splitlines() if line.startswith("{")]
    assert any(entry["path"] == visit_url and entry["status"] == 200 and entry["client"] == "203.0.113.7"
               for entry in access), "the access log holds no JSON line for the visit page"
    assert all(line.startswith("{") for line in served.err.read_text().splitlines() if line.strip()), (
        "gunicorn's error log is not JSON lines")

    backups = Path(host_env["BACKUP_DIR"])
    backups.mkdir()
    expired, kept = backups / "onevisit-20200101T023000Z.dump", backups / "onevisit-20200102T023000Z.dump"
    for old, days in ((expired, 15), (kept, 13)):
        old.write_bytes(b"an earlier dump")
        os.utime(old, (time.time() - days * 86400 - 3600,) * 2)
    dump = Path(run_block("backup", host_env).strip().splitlines()[-1])
    assert dump.parent == backups and dump.stat().st_size > 0
    # retention (KEEP_DAYS=14): older dumps are removed, younger ones kept; and the new one sorts last
    assert not expired.exists() and kept.exists()

    _psql(pg, f'DROP DATABASE "{database}" WITH (FORCE)')
    assert _psql(pg, f"SELECT count(*) FROM pg_database WHERE datname = '{database}'") == "0"
    run_block("restore", host_env)

    worker = subprocess.Popen(
        ["bash", "-c", "exec " + guide_blocks()["worker"].strip()], cwd=ROOT, env=host_env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    served = Served(host_env, tmp_path)
    try:
        browser = Browser(served.base)
        sign_in(browser, admin, NEW_PASSWORD)
        restored = browser.get(visit_url)
        assert restored.status_code == 200 and "Rosa" in restored.text and "Restore" in restored.text
        found = browser.get(f"/book?q={PATIENT['mrn']}")
        assert found.status_code == 200 and "Restore" in found.text
    finally:
        served.stop()
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
    out, err = worker.communicate(timeout=60)
    # the worker ran on the restored database beside the web app and stopped cleanly on SIGTERM, as systemd stops it
    assert "Outreach dispatcher" in out and "running" in out and "stopping" in out, out + err
    assert worker.returncode == 0, out + err


def test_the_units_and_the_procfile_run_the_guides_commands() -> None:
    """The systemd units and the Procfile start what the guide (and the test above) starts."""
    serve = guide_blocks()["serve"].strip()
    web = (ROOT / "deploy/systemd/onevisit-web.service").read_text()
    exec_start = re.search(r"^ExecStart=(.*)$", web, re.M).group(1)
    assert exec_start.endswith(serve.replace("deploy/", "/opt/onevisit/app/deploy/").removeprefix("gunicorn"))
    procfile = dict(line.split(": ", 1) for line in (ROOT / "deploy/Procfile").read_text().splitlines() if line)
    assert procfile["web"] == serve
    worker = (ROOT / "deploy/systemd/onevisit-worker.service").read_text()
    worker_command = guide_blocks()["worker"].strip()
    assert re.search(r"^ExecStart=/opt/onevisit/venv/bin/" + re.escape(worker_command) + "$", worker, re.M)
    assert procfile["worker"] == worker_command
    hl7 = (ROOT / "deploy/systemd/onevisit-hl7.service").read_text()
    hl7_command = guide_blocks()["hl7"].strip()
    assert re.search(r"^ExecStart=/opt/onevisit/venv/bin/" + re.escape(hl7_command) + "$", hl7, re.M)
    assert procfile["hl7"] == hl7_command
    backup = (ROOT / "deploy/systemd/onevisit-backup.service").read_text()
    assert re.search(r"^ExecStart=/opt/onevisit/app/" + re.escape(guide_blocks()["backup"].strip()) + "$", backup, re.M)


@pytest.mark.parametrize(("optimise", "timeout", "expected"), [(None, None, 120), ("200", None, 230), ("5", "60", 60)])
def test_gunicorn_outwaits_the_optimise_preview(monkeypatch, optimise, timeout, expected) -> None:
    """The worker timeout is never shorter than the coordinator's optimise preview's solver budget + 30 s."""
    import runpy

    for name, value in (("ONEVISIT_OPTIMISE_SECONDS", optimise), ("GUNICORN_TIMEOUT", timeout)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    config = runpy.run_path(str(ROOT / "deploy/gunicorn.conf.py"))
    assert config["timeout"] == expected
    assert config["forwarded_allow_ips"] == "127.0.0.1,::1"
