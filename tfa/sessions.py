"""Server-side sessions.

Defends against stolen or replayed cookies: the browser holds only a random identifier (stored
here as its SHA-256), so everything in the session — the pending sign-in, enrollment state, the
CSRF token — stays on the server, can be revoked, and expires after an idle and an absolute limit.
The identifier is renewed at every change of privilege (rotate()).
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g
from flask.sessions import SessionInterface, SessionMixin
from flask_wtf.csrf import generate_csrf
from sqlalchemy import delete, select, update
from werkzeug.datastructures import CallbackDict

from tfa.extensions import db
from tfa.models import WebSession
from tfa.types import utcnow

# Refresh last_seen_at at most this often when nothing else changed, to spare writes.
TOUCH_INTERVAL = timedelta(seconds=60)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, sid=None, last_seen_at=None):
        def on_update(self):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.id_hash = _hash(sid) if sid else None
        self.last_seen_at = last_seen_at
        self.modified = False
        self.rotate_requested = False


class ServerSessionInterface(SessionInterface):
    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and len(sid) <= 128:
            row = db.session.execute(
                select(WebSession.data, WebSession.created_at, WebSession.last_seen_at).where(
                    WebSession.id_hash == _hash(sid)
                )
            ).first()
            if row is not None and not self._expired(app, row):
                return ServerSession(dict(row.data), sid=sid, last_seen_at=row.last_seen_at)
            if row is not None:
                db.session.execute(delete(WebSession).where(WebSession.id_hash == _hash(sid)))
                db.session.commit()
        return ServerSession()

    def _expired(self, app, row):
        now = utcnow()
        idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
        absolute = timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"])
        return now - row.last_seen_at > idle or now - row.created_at > absolute

    def save_session(self, app, session, response):
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        # Whatever the view left half-done must not be committed with the session.
        db.session.rollback()
        if not session:
            if session.id_hash is not None:
                db.session.execute(delete(WebSession).where(WebSession.id_hash == session.id_hash))
                db.session.commit()
            if session.sid:
                response.delete_cookie(name, domain=domain, path=path)
            return
        now = utcnow()
        user_id = _user_id(session)
        if session.id_hash is None or session.rotate_requested:
            sid = secrets.token_urlsafe(32)
            values = dict(id_hash=_hash(sid), user_id=user_id, data=dict(session), created_at=now, last_seen_at=now)
            # Renewing moves the row to the new identifier (the old one stops working) in one statement.
            renamed = session.id_hash is not None and db.session.execute(
                update(WebSession).where(WebSession.id_hash == session.id_hash).values(**values)
                .execution_options(synchronize_session=False)
            ).rowcount == 1
            if not renamed:
                db.session.add(WebSession(**values))
            db.session.commit()
            session.sid = sid
            session.id_hash = _hash(sid)
        elif session.modified or now - session.last_seen_at > TOUCH_INTERVAL:
            db.session.execute(
                update(WebSession)
                .where(WebSession.id_hash == session.id_hash)
                .values(data=dict(session), user_id=user_id, last_seen_at=now)
            )
            db.session.commit()
        else:
            return
        response.vary.add("Cookie")
        response.set_cookie(
            name,
            session.sid,
            httponly=self.get_cookie_httponly(app),
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
            domain=domain,
            path=path,
            max_age=int(timedelta(hours=app.config["SESSION_ABSOLUTE_HOURS"]).total_seconds()),
        )


def _user_id(session):
    raw = session.get("_user_id")
    if not raw:
        return None
    try:
        return int(str(raw).split(":", 1)[0])
    except ValueError:
        return None


def rotate(session):
    """Give the session a new identifier at the end of this request (after sign-in), and a new CSRF
    token with it (saved in the same write, so the next page need not write the session again)."""
    session.rotate_requested = True
    session.modified = True
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)
    generate_csrf()


def end_sessions_of(user_id: int, keep_sid: str | None = None):
    """Delete every session of a user (but the one given): signs them out everywhere."""
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_sid:
        stmt = stmt.where(WebSession.id_hash != _hash(keep_sid))
    db.session.execute(stmt)
