"""How many SQL statements each step of a sign-in runs: the design keeps every step at 5 or fewer.

(Not a timing test: `make bench` measures time. This guards the design against a lookup creeping
back into a step.)
"""
import pytest
from sqlalchemy import event

from tests.conftest import PASSWORD, csrf_token
from tests.factories import enable_platform, gen_totp
from tfa.extensions import db


@pytest.fixture
def counted(app):
    counts = {"n": 0}

    def count(conn, cursor, statement, *_):
        counts["n"] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    yield counts
    event.remove(db.engine, "before_cursor_execute", count)


def test_each_sign_in_step_runs_few_statements(app, client, user, counted):
    enable_platform()
    totp = gen_totp(user)
    email = user.email  # read here: the test's own lookups are not the app's
    client.get("/login")  # settings are read once per process and cached afterwards

    def step(call):
        counted["n"] = 0
        response = call()
        return response, counted["n"]

    page, n_page = step(lambda: client.get("/login"))
    response, n_password = step(lambda: client.post("/login", data={
        "email": email, "password": PASSWORD, "csrf_token": csrf_token(page)}))
    assert response.status_code == 303 and response.headers["Location"] == "/login/verify"
    verify, n_verify = step(lambda: client.get("/login/verify"))
    response, n_totp = step(lambda: client.post("/login/verify", data={
        "code": totp.now(), "csrf_token": csrf_token(verify)}))
    assert response.status_code == 303
    security, n_security = step(lambda: client.get("/account/security"))
    assert email in security.get_data(as_text=True)
    response, n_logout = step(lambda: client.post("/logout", data={"csrf_token": csrf_token(security)}))
    assert response.status_code == 303
    assert (n_page, n_password, n_verify, n_totp) == (0, 2, 1, 4)
    assert n_security <= 4 and n_logout <= 4


def test_email_code_steps_run_few_statements(app, client, user, counted):
    import re

    from sqlalchemy import select

    from tests.factories import gen_email
    from tfa.models import OutboxMessage

    enable_platform()
    gen_email(user)
    email = user.email
    from tfa.delivery import mail

    mail.current_settings()  # read once per process, as the platform settings are
    page = client.get("/login")
    counted["n"] = 0
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf_token(page)})
    # user and methods, the code, the outbox (development delivery), the event, the session
    assert response.status_code == 303 and counted["n"] == 5
    body = db.session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id.desc())).first()
    code = re.search(r"\b(\d{6})\b", body).group(1)
    verify = client.get("/login/verify")
    counted["n"] = 0
    response = client.post("/login/verify", data={"code": code, "csrf_token": csrf_token(verify)})
    # the session, the code consumed, the user row, the event, the renewed session
    assert response.status_code == 303 and counted["n"] == 5
