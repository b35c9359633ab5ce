"""A sign-in and the session that grants it stand or fall together; a password change ends every
other session, including a sign-in halfway through."""
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from tests.conftest import PASSWORD, post_form, sign_in
from tests.factories import enable_platform, gen_totp
from tests.test_signin import signed_in, verify
from tfa.extensions import db
from tfa.models import SecurityEvent, User, WebSession

NEW_PASSWORD = "a brand new passphrase"


def _sign_ins(user_id):
    return db.session.scalar(select(func.count()).select_from(SecurityEvent).where(
        SecurityEvent.user_id == user_id, SecurityEvent.kind == "sign_in"))


@pytest.mark.config(PROPAGATE_EXCEPTIONS=False)
def test_a_failed_session_write_signs_nobody_in_and_spends_no_code(app, user):
    enable_platform()
    totp = gen_totp(user)
    email, user_id = user.email, user.id
    client = app.test_client()
    sign_in(client, email)
    code = totp.now()
    failed = []

    def connection_lost_once(conn, cursor, statement, parameters, context, executemany):
        # The database goes away just as the renewed session is written.
        if statement.startswith("UPDATE web_sessions SET id_hash") and not failed:
            failed.append(statement)
            raise OperationalError(statement, parameters, ConnectionError("server closed the connection"))

    event.listen(db.engine, "before_cursor_execute", connection_lost_once)
    try:
        response = verify(client, code)
    finally:
        event.remove(db.engine, "before_cursor_execute", connection_lost_once)
    assert failed and response.status_code == 500
    assert "tfa_session=" not in response.headers.get("Set-Cookie", "")
    assert not signed_in(client)
    db.session.expire_all()
    assert db.session.get(User, user_id).totp_last_step is None and _sign_ins(user_id) == 0
    # Nothing happened: the sign-in is still pending, and the code works once, now.
    assert verify(client, code).status_code == 303 and signed_in(client)
    assert _sign_ins(user_id) == 1


def test_a_password_change_ends_a_sign_in_halfway_through(app, user):
    enable_platform()
    totp = gen_totp(user)
    email, user_id = user.email, user.id
    owner, intruder = app.test_client(), app.test_client()
    sign_in(intruder, email)  # knows the old password; waits for a code
    sign_in(owner, email)
    assert verify(owner, totp.now()).status_code == 303
    response = post_form(owner, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
    }, page_url="/account/security")
    assert response.status_code == 303
    # The intruder's session is gone from the store...
    assert db.session.scalar(select(func.count()).select_from(WebSession).where(WebSession.user_id == user_id)) == 1
    # ...and even a right code cannot finish that sign-in any more.
    response = intruder.post("/login/verify", data={"code": totp.now(), "csrf_token": "x"})
    assert response.status_code in (302, 303, 400)
    assert not signed_in(intruder)


def test_a_sign_in_halfway_through_cannot_finish_after_the_password_changed(app, user):
    """Even where the session itself survives, the pending sign-in is bound to the password it began with."""
    from tests.conftest import csrf_token
    from tfa import users

    enable_platform()
    totp = gen_totp(user)
    email = user.email
    intruder = app.test_client()
    sign_in(intruder, email)
    page = intruder.get("/login/verify")
    users.set_password(db.session.get(User, user.id), NEW_PASSWORD)  # the session rows are left alone
    db.session.commit()
    response = intruder.post("/login/verify", data={"code": totp.now(), "csrf_token": csrf_token(page)})
    assert response.status_code == 303 and response.headers["Location"] == "/login"
    assert "Verification time expired" in intruder.get("/login").get_data(as_text=True)
    assert not signed_in(intruder)
    assert db.session.get(User, user.id).failed_verifications == 0  # not counted as a wrong code
