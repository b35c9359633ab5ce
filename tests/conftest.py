"""Shared fixtures: the app on SQLite and PostgreSQL, clients, factories, sign-in helpers,
a real SMTP server on loopback and a live server with Chromium for browser tests."""
import contextvars
import os
import re
import secrets
import shutil
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from flask import g, has_app_context
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from tfa import create_app, users
from tfa.config import TestConfig, database_url
from tfa.extensions import db
from tfa.models import ROLE_SYSADMIN, ROLE_USER

PASSWORD = "correct horse battery staple"
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = bool(os.environ.get("CI"))


def pytest_collection_modifyitems(config, items):
    # In CI nothing that needs PostgreSQL, Redis or Chromium may be skipped silently.
    if IN_CI:
        missing = [n for n, v in (("TEST_DATABASE_URL", TEST_DATABASE_URL), ("REDIS_URL", REDIS_URL), ("chromium", CHROMIUM)) if not v]
        if missing:
            raise pytest.UsageError(f"CI needs {', '.join(missing)}")


# --- PostgreSQL: one throw-away database for this test run --------------------------------------

@pytest.fixture(scope="session")
def postgres_url():
    """A fresh PostgreSQL database for this run (dropped at the end), or a skip."""
    if not TEST_DATABASE_URL:
        pytest.skip("PostgreSQL tests need TEST_DATABASE_URL")
    admin_engine = sa.create_engine(database_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")
    name = f"tfa_test_{os.getpid()}_{secrets.token_hex(3)}"
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(database_url(TEST_DATABASE_URL)).set(database=name)
    engine = sa.create_engine(url)
    db.metadata.create_all(engine)
    engine.dispose()
    yield url.render_as_string(hide_password=False)
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin_engine.dispose()


def _truncate_all(engine):
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


class IsolatedClient(FlaskClient):
    """A test client whose requests run in their own app context, as in production.

    Tests keep an app context open for factories and queries; without this, every request would
    share its `g` (Flask-Login's cached user) and its database session with the test.
    """

    def open(self, *args, **kwargs):
        kwargs["buffered"] = True
        response = contextvars.Context().run(super().open, *args, **kwargs)
        if has_app_context():
            db.session.expire_all()  # see what the request wrote
            g.pop("_tfa_settings", None)  # settings read once per request: this test's "request" goes on
        return response


def build_app(database_uri, **overrides):
    """An app on the given database with the test configuration."""
    config = dict(SQLALCHEMY_DATABASE_URI=database_uri, LIMITS_KEY_PREFIX=f"test-{secrets.token_hex(4)}")
    config.update(overrides)
    app = create_app(TestConfig, **config)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def db_uri(request, tmp_path):
    """Each database test runs on SQLite and again on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tfa.db'}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url


@pytest.fixture
def app(db_uri, request):
    marker = request.node.get_closest_marker("config")
    overrides = marker.kwargs if marker else {}
    app = build_app(db_uri, **overrides)
    with app.app_context():
        if db_uri.startswith("sqlite"):
            db.create_all()
        else:
            _truncate_all(db.engine)
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- Factories and helpers ---------------------------------------------------------------------

def gen_user(email=None, password=PASSWORD, role=ROLE_USER, name="Test User", **attrs):
    """Create a user directly (CTFd-style factory); extra attributes are set on the row."""
    email = email or f"user-{secrets.token_hex(4)}@example.com"
    user = users.create_user(email, password, name=name, role=role, check_policy=False)
    for key, value in attrs.items():
        setattr(user, key, value)
    db.session.commit()
    return user


def gen_admin(email=None, password=PASSWORD, **attrs):
    return gen_user(email or f"admin-{secrets.token_hex(4)}@example.com", password, role=ROLE_SYSADMIN, **attrs)


CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(response_or_html):
    """The CSRF token of the first form on a page."""
    text = response_or_html if isinstance(response_or_html, str) else response_or_html.get_data(as_text=True)
    match = CSRF_RE.search(text)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


def post_form(client, url, data, page_url=None, **kwargs):
    """POST a form the way a browser does: load the page, take its CSRF token, submit."""
    page = client.get(page_url or url)
    payload = {"csrf_token": csrf_token(page), **data}
    return client.post(url, data=payload, **kwargs)


def sign_in(client, email, password=PASSWORD, **kwargs):
    """Submit the sign-in form; returns the response."""
    return post_form(client, "/login", {"email": email, "password": password}, **kwargs)


@pytest.fixture
def user(app):
    return gen_user()


@pytest.fixture
def admin(app):
    return gen_admin()


# --- A real SMTP server on loopback ------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CapturedMail:
    sender: str
    recipients: list
    message: object

    @property
    def subject(self):
        return self.message["Subject"]

    @property
    def text(self):
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part else ""

    @property
    def html(self):
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part else ""


@dataclass
class SMTPServer:
    host: str
    port: int
    messages: list = field(default_factory=list)

    def to(self, address):
        return [m for m in self.messages if address in m.recipients]

    def last_to(self, address):
        found = self.to(address)
        assert found, f"no mail to {address}"
        return found[-1]


@pytest.fixture
def smtp_server():
    """An aiosmtpd server on 127.0.0.1 that keeps every message it receives."""
    from aiosmtpd.controller import Controller

    server = SMTPServer("127.0.0.1", 0)

    class Handler:
        async def handle_DATA(self, smtp, session, envelope):
            server.messages.append(
                CapturedMail(envelope.mail_from, list(envelope.rcpt_tos),
                             message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
            )
            return "250 OK"

    server.port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=server.port)
    controller.start()
    yield server
    controller.stop()


# --- A live server for browser tests ------------------------------------------------------------

class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(5)


@pytest.fixture
def live_app(tmp_path, request):
    """An app on a SQLite file, for a live server (browser tests run on SQLite)."""
    marker = request.node.get_closest_marker("config")
    app = build_app(f"sqlite:///{tmp_path / 'live.db'}", **(marker.kwargs if marker else {}))
    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def live_server(live_app):
    server = LiveServer(live_app)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM:
        pytest.skip("browser tests need Chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
