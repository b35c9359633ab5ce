"""Password sign-in and sign-out, sessions, CSRF, headers, health (the foundation)."""
import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, build_app, csrf_token, gen_user, post_form, sign_in
from tfa.extensions import db
from tfa.models import WebSession


def test_login_page_has_labelled_fields(client):
    page = client.get("/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<title>Sign in" in html
    assert 'for="email">Email' in html and 'for="password">Password' in html
    assert ">Sign in</button>" in html


def test_correct_password_signs_in_and_shows_the_user(client, user):
    response = sign_in(client, user.email)
    assert response.status_code == 303
    page = client.get("/account/security")
    assert page.status_code == 200
    assert user.email in page.get_data(as_text=True)


def test_email_is_case_insensitive(client, user):
    assert sign_in(client, user.email.upper()).status_code == 303


def test_wrong_password_and_unknown_email_look_the_same(client, user):
    wrong_password = sign_in(client, user.email, "not the password")
    unknown_email = sign_in(client, "nobody@example.com", "not the password")
    assert wrong_password.status_code == unknown_email.status_code == 422
    for response in (wrong_password, unknown_email):
        assert "Invalid email or password" in response.get_data(as_text=True)
    assert client.get("/account/security").status_code == 302


def test_disabled_account_is_told_only_after_a_correct_password(client):
    user = gen_user(enabled=False)
    assert "Invalid email or password" in sign_in(client, user.email, "wrong password").get_data(as_text=True)
    assert "disabled" in sign_in(client, user.email).get_data(as_text=True)


@pytest.mark.parametrize("bad", ["", "x" * 5000, "\x00", "é" * 300, "nobody"])
def test_bad_input_gets_a_message_not_a_500(client, bad):
    response = sign_in(client, bad, bad)
    assert response.status_code in (400, 422, 429)


def test_session_id_changes_at_sign_in(client, user):
    client.get("/login")
    before = client.get_cookie("tfa_session").value
    sign_in(client, user.email)
    after = client.get_cookie("tfa_session").value
    assert before != after
    # The old identifier no longer opens a session.
    assert db.session.scalar(select(WebSession).where(WebSession.user_id == user.id)) is not None
    client.set_cookie("tfa_session", before)
    assert client.get("/account/security").status_code == 302


def test_sign_out_ends_the_session(client, user):
    sign_in(client, user.email)
    response = post_form(client, "/logout", {}, page_url="/account/security")
    assert response.status_code == 303
    assert client.get("/account/security").status_code == 302


def test_sign_out_needs_post(client, user):
    sign_in(client, user.email)
    assert client.get("/logout").status_code == 405
    assert client.get("/account/security").status_code == 200


def test_password_change_signs_out_other_sessions(app, user):
    first, second = app.test_client(), app.test_client()
    sign_in(first, user.email)
    sign_in(second, user.email)
    response = post_form(
        first,
        "/account/password",
        {"current_password": PASSWORD, "new_password": "a brand new passphrase", "confirm_password": "a brand new passphrase"},
        page_url="/account/security",
    )
    assert response.status_code == 303
    assert first.get("/account/security").status_code == 200
    assert second.get("/account/security").status_code == 302
    assert sign_in(second, user.email, "a brand new passphrase").status_code == 303


def test_password_change_refuses_common_and_short_passwords(client, user):
    sign_in(client, user.email)
    for new, message in (("short", "at least 8 characters"), ("password123", "too common")):
        response = post_form(
            client, "/account/password",
            {"current_password": PASSWORD, "new_password": new, "confirm_password": new},
            page_url="/account/security",
        )
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(client, user):
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/account/security").status_code == 302


def test_htmx_post_needs_the_csrf_header(client, user):
    page = client.get("/login")
    token = csrf_token(page)
    data = {"email": user.email, "password": PASSWORD}
    refused = client.post("/login", data=data, headers={"HX-Request": "true"})
    assert refused.status_code == 400
    accepted = client.post("/login", data=data, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert accepted.status_code == 204
    assert accepted.headers["HX-Redirect"] == "/"


def test_htmx_login_error_is_a_422_fragment(client, user):
    token = csrf_token(client.get("/login"))
    response = client.post("/login", data={"email": user.email, "password": "nope"},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html and 'id="login-form"' in html and "Invalid email or password" in html
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("path", ["/login", "/healthz", "/nope", "/static/css/app.css"])
def test_every_response_carries_security_headers(client, path):
    response = client.get(path)
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_flags(client):
    client.get("/login")
    cookie = client.get_cookie("tfa_session")
    assert cookie.http_only and cookie.same_site == "Lax"


def test_safe_next_only(client, user):
    response = sign_in(client, user.email, page_url="/login")
    assert response.headers["Location"] == "/"
    for target, expected in (("/account/security", "/account/security"), ("https://evil.example/", "/"),
                             ("//evil.example/", "/"), ("/\\evil.example", "/")):
        client.post("/logout", data={"csrf_token": csrf_token(client.get("/account/security"))})
        page = client.get(f"/login?next={target}")
        response = client.post(f"/login?next={target}", data={
            "csrf_token": csrf_token(page), "email": user.email, "password": PASSWORD})
        assert response.headers["Location"] == expected


@pytest.mark.config(LOGIN_LIMIT_PER_ACCOUNT="3/600")
def test_sign_in_is_rate_limited_per_account(client, user):
    for _ in range(3):
        assert sign_in(client, user.email, "wrong").status_code == 422
    limited = sign_in(client, user.email, PASSWORD)
    assert limited.status_code == 429
    assert "Too many sign-in attempts" in limited.get_data(as_text=True)
    # The same answer for an address that has no account: the limit tells nothing.
    for _ in range(3):
        sign_in(client, "ghost@example.com", "wrong")
    assert sign_in(client, "ghost@example.com", "wrong").status_code == 429


@pytest.mark.config(LOGIN_LIMIT_PER_IP="4/600")
def test_sign_in_is_rate_limited_per_ip(client, user):
    for i in range(4):
        sign_in(client, f"someone{i}@example.com", "wrong")
    assert sign_in(client, user.email, PASSWORD).status_code == 429


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["database"] == "ok"


def test_healthz_is_503_when_the_database_is_down(tmp_path):
    app = build_app("postgresql+psycopg://nobody@127.0.0.1:1/none")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503


def test_error_pages_use_the_layout(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "Not found" in response.get_data(as_text=True)


def test_outbox_is_a_404_in_production(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'p.db'}", TFA_ENV="production", SECRET_KEY="x" * 40)
    with app.app_context():
        db.create_all()
    assert app.test_client().get("/dev/outbox").status_code == 404


def test_production_refuses_the_development_secret_key(tmp_path):
    from tfa.config import DEV_SECRET_KEY

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        build_app(f"sqlite:///{tmp_path / 'p.db'}", TFA_ENV="production", SECRET_KEY=DEV_SECRET_KEY)


def test_production_sets_secure_cookies(tmp_path):
    app = build_app(f"sqlite:///{tmp_path / 'p.db'}", TFA_ENV="production", SECRET_KEY="x" * 40)
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_idle_session_expires(client, user):
    from datetime import timedelta

    from freezegun import freeze_time

    from tfa.types import utcnow

    sign_in(client, user.email)
    with freeze_time(utcnow() + timedelta(minutes=20)):
        assert client.get("/account/security").status_code == 200
    with freeze_time(utcnow() + timedelta(minutes=20 + 31)):
        assert client.get("/account/security").status_code == 302


def test_session_has_an_absolute_lifetime(client, user):
    from datetime import timedelta

    from freezegun import freeze_time

    from tfa.types import utcnow

    sign_in(client, user.email)
    start = utcnow()
    # Active every 20 minutes, yet signed out after 12 hours.
    for minutes in range(20, 12 * 60, 20):
        with freeze_time(start + timedelta(minutes=minutes)):
            assert client.get("/account/security").status_code == 200, minutes
    with freeze_time(start + timedelta(hours=12, minutes=1)):
        assert client.get("/account/security").status_code == 302


def _session_rows():
    return db.session.scalars(select(WebSession)).all()


def test_a_visitor_session_is_a_signed_cookie_until_the_password_is_accepted(client, user):
    page = client.get("/login")
    cookie = client.get_cookie("tfa_session").value
    assert "." in cookie and _session_rows() == []  # signed data, nothing stored
    # The CSRF token it carries works, and a wrong password leaves nothing stored either.
    assert sign_in(client, user.email, "wrong password").status_code == 422
    assert _session_rows() == []
    sign_in(client, user.email)
    sid = client.get_cookie("tfa_session").value
    assert "." not in sid and len(_session_rows()) == 1  # now an identifier of a stored session
    assert client.get("/account/security").status_code == 200
    # Signing out deletes the stored session; the goodbye message travels in a signed cookie again.
    post_form(client, "/logout", {}, page_url="/account/security")
    assert _session_rows() == []
    assert "You have been signed out." in client.get("/login").get_data(as_text=True)
    assert page.status_code == 200


@pytest.mark.parametrize("forged", [
    "eyJjc3JmX3Rva2VuIjoieCJ9.Zz0000.forged-signature",  # well-formed, wrong signature
    "not.a.cookie", "." * 3000,
])
def test_a_forged_visitor_cookie_is_ignored(client, user, forged):
    client.set_cookie("tfa_session", forged)
    page = client.get("/login")
    assert page.status_code == 200
    assert client.get_cookie("tfa_session").value != forged
    # It carried no CSRF token: the form of this page works, the forged cookie's would not.
    assert sign_in(client, user.email).status_code == 303


def test_a_signed_in_session_cannot_be_forged_as_a_cookie(app, client, user):
    from itsdangerous import URLSafeTimedSerializer

    from tfa.sessions import ServerSessionInterface

    forged = URLSafeTimedSerializer("not-the-key", salt=ServerSessionInterface.salt).dumps(
        {"_user_id": f"{user.id}:{user.session_token}"})
    client.set_cookie("tfa_session", forged)
    assert client.get("/account/security").status_code == 302
    # Even signed with the right key (a leaked SECRET_KEY), only a visitor's keys are read from a
    # cookie: being signed in is only ever read from the server's store.
    real = URLSafeTimedSerializer(app.secret_key, salt=ServerSessionInterface.salt).dumps(
        {"_user_id": f"{user.id}:{user.session_token}"})
    client.set_cookie("tfa_session", real)
    assert client.get("/account/security").status_code == 302


def test_a_visitor_cookie_lasts_while_it_is_used(client, user):
    from datetime import timedelta

    from freezegun import freeze_time

    from tfa.types import utcnow

    start = utcnow()
    with freeze_time(start) as clock:
        client.get("/login")
        clock.tick(timedelta(minutes=20))  # past half of the 30-minute idle limit: signed again
        page = client.get("/login")
        assert "tfa_session=" in page.headers.get("Set-Cookie", "")
        clock.tick(timedelta(minutes=20))  # 40 minutes after the first visit, 20 after the last
        response = client.post("/login", data={"email": user.email, "password": PASSWORD,
                                               "csrf_token": csrf_token(page)})
        assert response.status_code == 303
