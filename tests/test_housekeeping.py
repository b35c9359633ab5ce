"""`flask purge-expired` deletes what has expired and nothing that is still live."""
from datetime import timedelta

from freezegun import freeze_time
from sqlalchemy import func, select

from tests.conftest import sign_in
from tests.factories import enable_platform, gen_email, gen_totp
from tfa.extensions import db
from tfa.models import SentCode, WebSession
from tfa.types import utcnow


def count(model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_purge_removes_expired_rows_only(app, runner, user):
    enable_platform(total_verification_time=60)
    gen_email(user)
    stale = app.test_client()
    sign_in(stale, user.email)  # a session holding a pending sign-in, and a sent code
    assert count(WebSession) == 1 and count(SentCode) == 1
    with freeze_time(utcnow() + timedelta(hours=2)):
        live = app.test_client()
        sign_in(live, user.email)  # a fresh pending sign-in stays
        result = runner.invoke(args=["purge-expired"])
        assert result.exit_code == 0, result.output
        assert "1 sessions" in result.output and "1 sent codes" in result.output
        assert count(WebSession) == 1 and count(SentCode) == 1  # the live sign-in's code stays


def test_purge_keeps_a_live_sign_in(app, runner, user):
    enable_platform()
    gen_totp(user)
    client = app.test_client()
    sign_in(client, user.email)
    runner.invoke(args=["purge-expired"])
    assert count(WebSession) == 1
    assert client.get("/login/verify").status_code == 200
