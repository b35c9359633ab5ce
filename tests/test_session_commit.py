"""commit_with_session(): a request's work and its session write are stored together, or not at all."""
from flask import session
from sqlalchemy import select, update

from tests.conftest import sign_in
from tfa import sessions
from tfa.extensions import db
from tfa.models import User, WebSession


def _add_route(app, status):
    def rename_user():
        db.session.execute(update(User).values(name="renamed"))
        session["touched"] = True  # a session that needs a write
        sessions.commit_with_session(session)
        return "done", status

    app.add_url_rule(f"/test/rename-{status}", f"rename_{status}", rename_user)


def _name(user):
    return db.session.execute(select(User.name).where(User.id == user.id)).scalar_one()


def test_work_is_committed_with_the_session_write(app, client, user):
    _add_route(app, 200)
    sign_in(client, user.email)
    assert client.get("/test/rename-200").status_code == 200
    assert _name(user) == "renamed"
    rows = db.session.scalars(select(WebSession)).all()
    assert len(rows) == 1 and rows[0].data.get("touched") is True


def test_work_of_an_error_response_is_not_committed(app, client, user):
    _add_route(app, 500)
    sign_in(client, user.email)
    assert client.get("/test/rename-500").status_code == 500
    assert _name(user) != "renamed"
