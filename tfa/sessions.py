"""Server-side sessions.

Defends against stolen or replayed cookies: once a password has been accepted, the browser holds
only a random identifier (stored here as its SHA-256), so everything in the session — the pending
sign-in, the signed-in user, enrollment state, the CSRF token — stays on the server, can be
revoked, and expires after an idle and an absolute limit. The identifier is renewed at every
change of privilege (rotate()).

Before that, a visitor's session holds nothing worth revoking: a CSRF token and flash messages
(ANONYMOUS_KEYS). It is kept in the cookie itself, signed with SECRET_KEY (Flask's own kind of
session), so that visiting the sign-in page writes nothing to the database: a flood of anonymous
visits cannot grow the sessions table, and the page costs no write.
"""
import hashlib
import secrets
from datetime import timedelta

from flask import current_app, g
from flask.sessions import SessionInterface, SessionMixin
from flask_wtf.csrf import generate_csrf
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, insert, select, update
from werkzeug.datastructures import CallbackDict

from tfa.extensions import db
from tfa.models import TwoFactorMethod, User, WebSession
from tfa.types import utcnow

# Refresh last_seen_at at most this often when nothing else changed, to spare writes.
TOUCH_INTERVAL = timedelta(seconds=60)
# What a session may hold and still be kept in a signed cookie (besides the CSRF token).
ANONYMOUS_KEYS = frozenset({"_flashes"})

# Every request runs one or two of these: they are built once (Core, bound parameters), which
# costs a quarter of building an ORM statement per request.
_T = WebSession.__table__
# The session's user and their two-factor methods come with it, in the same statement: the user
# loader (tfa.web) and the second step (tfa.signin) use them instead of reading them again.
_LOAD = (
    select(_T.c.data, _T.c.created_at, _T.c.last_seen_at, User, TwoFactorMethod)
    .outerjoin(User, User.id == _T.c.user_id)
    .outerjoin(TwoFactorMethod, TwoFactorMethod.user_id == User.id)
    .where(_T.c.id_hash == bindparam("id_hash"))
)
# The key under which tfa.signin keeps a pending sign-in; its user owns the session row too.
PENDING_KEY = "pending_sign_in"
_DELETE = delete(_T).where(_T.c.id_hash == bindparam("id_hash"))
_INSERT = insert(_T)
# (Parameters of UPDATEs may not be named like columns.)
_RENAME = (
    update(_T).where(_T.c.id_hash == bindparam("old_hash"))
    .values(id_hash=bindparam("new_hash"), user_id=bindparam("b_user_id"), data=bindparam("b_data"),
            created_at=bindparam("now"), last_seen_at=bindparam("now"))
)
_SAVE = (
    update(_T).where(_T.c.id_hash == bindparam("b_id_hash"))
    .values(user_id=bindparam("b_user_id"), data=bindparam("b_data"), last_seen_at=bindparam("now"))
)


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, sid=None, last_seen_at=None, user=None, user_methods=None, in_cookie=False):
        def on_update(self):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.id_hash = _hash(sid) if sid else None
        self.last_seen_at = last_seen_at
        self.modified = False
        self.rotate_requested = False
        # The row of the user the session belongs to, and their method rows by kind, as loaded at
        # the start of the request (not a sign of being signed in: Flask-Login's user loader still
        # checks the id and token kept in the data). Read-only uses at the start of a request only.
        self.user = user
        self.user_methods = user_methods or {}
        self.in_cookie = in_cookie  # it came from a signed cookie (an anonymous session)
        self.commit_pending_work = False  # see commit_with_session()
        self.save_failed = False


class ServerSessionInterface(SessionInterface):
    salt = "tfa-anonymous-session"

    def _serializer(self, app):
        return URLSafeTimedSerializer(app.secret_key, salt=self.salt)

    def open_session(self, app, request):
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and "." in sid and len(sid) <= 4096:  # signed data, not an identifier
            idle = app.config["SESSION_IDLE_MINUTES"] * 60
            try:
                data, signed_at = self._serializer(app).loads(sid, max_age=idle, return_timestamp=True)
            except BadSignature:
                return ServerSession()
            # Only what a visitor's session may hold is read from it, whatever was signed: being
            # signed in, or halfway through signing in, is only ever read from the server's store.
            data = data if isinstance(data, dict) else {}
            session = ServerSession({k: v for k, v in data.items() if self._anonymous_key(app, k)}, in_cookie=True)
            # Signed again once half its idle time has passed, so that it lasts while it is used.
            session.modified = (utcnow() - signed_at).total_seconds() > idle / 2
            return session
        if sid and len(sid) <= 128:
            id_hash = _hash(sid)
            rows = db.session.execute(_LOAD, {"id_hash": id_hash}).all()
            row = rows[0] if rows else None
            if row is not None and not self._expired(app, row):
                methods = {r.TwoFactorMethod.kind: r.TwoFactorMethod for r in rows if r.TwoFactorMethod is not None}
                return ServerSession(dict(row.data), sid=sid, last_seen_at=row.last_seen_at, user=row.User,
                                     user_methods=methods)
            if row is not None:
                db.session.execute(_DELETE, {"id_hash": id_hash})
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
        if session.save_failed:
            return  # not again for the error page: the session stays as it was stored
        keep = session.commit_pending_work
        if keep and response.status_code >= 400:
            # The work failed: neither it nor the session it would have led to is stored.
            db.session.rollback()
            return
        try:
            self._save(app, session, response, name, domain, path, keep)
        except BaseException:
            session.save_failed = True
            db.session.rollback()
            raise
        if keep and db.session().in_transaction():
            db.session.commit()  # the request's work, when the session needed no write

    def _save(self, app, session, response, name, domain, path, keep):
        if not session:
            if session.id_hash is not None:
                _write(_DELETE, {"id_hash": session.id_hash}, keep=keep)
            if session.sid or session.in_cookie:
                response.delete_cookie(name, domain=domain, path=path)
            return
        if self._anonymous(app, session):
            if session.id_hash is not None:  # signed out: the server copy goes
                _write(_DELETE, {"id_hash": session.id_hash}, keep=keep)
            elif not session.modified:
                return
            response.vary.add("Cookie")
            response.set_cookie(
                name, self._serializer(app).dumps(dict(session)),
                httponly=self.get_cookie_httponly(app), secure=self.get_cookie_secure(app),
                samesite=self.get_cookie_samesite(app), domain=domain, path=path,
                max_age=app.config["SESSION_IDLE_MINUTES"] * 60,
            )
            return
        now = utcnow()
        user_id = _user_id(session)
        if session.id_hash is None or session.rotate_requested:
            sid = secrets.token_urlsafe(32)
            new_hash, data = _hash(sid), dict(session)
            if not keep:
                db.session.rollback()  # whatever the view left half-done is not committed with the session
            if session.id_hash is None:
                db.session.execute(_INSERT, {"id_hash": new_hash, "user_id": user_id, "data": data,
                                             "created_at": now, "last_seen_at": now})
            # Renewing moves the row to the new identifier (the old one stops working) in one
            # statement. No row: the session was ended meanwhile (signed out, expired, ended by a
            # password change or an administrator), and it is not brought back.
            elif db.session.execute(_RENAME, {
                "old_hash": session.id_hash, "new_hash": new_hash, "b_user_id": user_id, "b_data": data, "now": now,
            }).rowcount != 1:
                db.session.rollback()
                response.delete_cookie(name, domain=domain, path=path)
                return
            db.session.commit()
            session.sid = sid
            session.id_hash = _hash(sid)
        elif session.modified or now - session.last_seen_at > TOUCH_INTERVAL:
            _write(_SAVE, {"b_id_hash": session.id_hash, "b_user_id": user_id, "b_data": dict(session), "now": now},
                   keep=keep)
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


    def _anonymous(self, app, session) -> bool:
        """Whether the session holds only what may live in a signed cookie."""
        return all(self._anonymous_key(app, key) for key in session)

    @staticmethod
    def _anonymous_key(app, key) -> bool:
        return key in ANONYMOUS_KEYS or key == app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")


def _write(statement, params, *, keep=False) -> None:
    """One write of the session store, in its own transaction: whatever the view left half-done
    is rolled back first, never committed with the session (unless `keep`: see
    commit_with_session()). A request that writes nothing leaves its transaction to the end of
    the request, which closes it."""
    if not keep:
        db.session.rollback()
    db.session.execute(statement, params)
    db.session.commit()


def commit_with_session(session) -> None:
    """Commit the request's open transaction together with the session's write at the end of the
    request, in one commit — and only if the response is not an error. A finished sign-in and the
    renewed session that grants it are then stored together or not at all."""
    session.commit_pending_work = True


def _user_id(session):
    """The user the session belongs to: the signed-in one, else the one of a pending sign-in (so
    that ending a user's sessions also ends their sign-ins halfway through)."""
    raw = session.get("_user_id")
    if not raw:
        pending = session.get(PENDING_KEY)
        user_id = pending.get("user_id") if isinstance(pending, dict) else None
        return user_id if isinstance(user_id, int) else None
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
