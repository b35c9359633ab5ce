"""Fast seeding for `make bench`, run inside tfa's application context.

- "Active" users (the ones the driver signs in) each get their own TOTP secret, encrypted with the
  app's keys (tfa.crypto, so the served workers can decrypt them), inserted with executemany in one
  transaction (SQLite) or COPY (PostgreSQL).
- "Filler" users, their authenticator apps and the security events that make the database large are
  generated inside the database (INSERT … SELECT over a recursive CTE / generate_series): no Python
  loop per row. Secondary indexes of security_events are dropped during the load and rebuilt after.
- Every user has the same password, hashed once with tfa's Argon2id parameters.
"""
from contextlib import contextmanager
from datetime import timedelta

import pyotp
from sqlalchemy import func, select, text

from tfa import crypto, passwords, settings
from tfa.extensions import db
from tfa.models import SecurityEvent, TwoFactorMethod, User
from tfa.types import utcnow

PASSWORD = "bench-password-for-sign-in"
USER_COLUMNS = ("id", "email", "name", "role", "enabled", "password_hash", "session_token",
                "password_changed_at", "failed_verifications", "created_at")
METHOD_COLUMNS = ("id", "user_id", "kind", "is_main", "secret_encrypted", "enabled_at")


def active_email(n: int) -> str:
    return f"bench-{n:07d}@bench.example"


def _dialect():
    return db.engine.dialect.name


def _sqlite_time(value):
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def count_users() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0


def prepare_platform():
    """Turn the authenticator app on at platform level."""
    settings.update_two_factor(totp_enabled=True)


def add_active_users(first: int, count: int, password_hash: str) -> list[dict]:
    """Users first..first+count-1 (ids), each with its own TOTP secret; returns their credentials."""
    now = utcnow()
    people, users, methods_rows = [], [], []
    for n in range(first, first + count):
        secret = pyotp.random_base32(32)
        people.append({"id": n, "email": active_email(n), "password": PASSWORD, "secret": secret})
        users.append((n, active_email(n), f"Bench user {n}", "user", True, password_hash,
                      f"bench-token-{n}", now, 0, now))
        methods_rows.append((n, n, "totp", True, crypto.encrypt(secret), now))
    _bulk_insert(User.__tablename__, USER_COLUMNS, users)
    _bulk_insert(TwoFactorMethod.__tablename__, METHOD_COLUMNS, methods_rows)
    return people


def _bulk_insert(table, columns, rows):
    connection = db.session.connection()
    raw = connection.connection.driver_connection
    if _dialect() == "sqlite":
        def convert(value):
            if hasattr(value, "tzinfo"):
                return _sqlite_time(value)
            if isinstance(value, bool):
                return int(value)
            return value

        rows = [tuple(convert(v) for v in row) for row in rows]
        marks = ", ".join("?" for _ in columns)
        raw.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    else:
        with raw.cursor() as cursor:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    db.session.commit()


def add_filler_users(first: int, last: int, password_hash: str) -> None:
    """Users first..last (ids) with an authenticator app sharing one encrypted secret."""
    if last < first:
        return
    token = crypto.encrypt(pyotp.random_base32(32))
    params = {"a": first, "b": last, "hash": password_hash, "secret": token}
    if _dialect() == "sqlite":
        params["now"] = _sqlite_time(utcnow())
        series = "WITH RECURSIVE s(n) AS (SELECT :a UNION ALL SELECT n + 1 FROM s WHERE n < :b) "
        email = "'bench-' || substr('0000000' || n, -7, 7) || '@bench.example'"
        source = "FROM s"
        true = "1"
    else:
        params["now"] = utcnow()
        series = ""
        email = "'bench-' || lpad(n::text, 7, '0') || '@bench.example'"
        source = "FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) AS n"
        true = "true"
    db.session.execute(text(
        f"{series}INSERT INTO users ({', '.join(USER_COLUMNS)}) "
        f"SELECT n, {email}, 'Bench user ' || n, 'user', {true}, :hash, 'bench-token-' || n, :now, 0, :now {source}"
    ), params)
    db.session.execute(text(
        f"{series}INSERT INTO two_factor_methods ({', '.join(METHOD_COLUMNS)}) "
        f"SELECT n, n, 'totp', {true}, :secret, :now {source}"
    ), params)
    db.session.commit()


def add_events(first: int, last: int, users: int) -> None:
    """Security events first..last (ids), spread over the users and over the past, older first."""
    if last < first:
        return
    total = last - first + 1
    start = utcnow() - timedelta(seconds=total + 60)
    params = {"a": first, "b": last, "users": users}
    if _dialect() == "sqlite":
        params["start"] = start.strftime("%Y-%m-%d %H:%M:%S")
        series = "WITH RECURSIVE s(n) AS (SELECT :a UNION ALL SELECT n + 1 FROM s WHERE n < :b) "
        created = "strftime('%Y-%m-%d %H:%M:%S', :start, '+' || (n - :a) || ' seconds') || '.000000'"
        source = "FROM s"
    else:
        params["start"] = start
        series = ""
        created = "CAST(:start AS timestamptz) + (n - :a) * interval '1 second'"
        source = "FROM generate_series(CAST(:a AS bigint), CAST(:b AS bigint)) AS n"
    indexes = list(SecurityEvent.__table__.indexes)
    connection = db.session.connection()
    for index in indexes:
        index.drop(bind=connection)
    db.session.execute(text(
        f"{series}INSERT INTO security_events (id, user_id, kind, method, ip, user_agent, created_at) "
        f"SELECT n, 1 + (n * 2654435761) % :users, "
        f"CASE n % 3 WHEN 0 THEN 'sign_in' WHEN 1 THEN 'sign_out' ELSE 'failed_password' END, "
        f"CASE n % 3 WHEN 0 THEN 'totp' ELSE NULL END, '127.0.0.1', 'seed', {created} {source}"
    ), params)
    for index in indexes:
        index.create(bind=connection)
    db.session.commit()


def finish() -> None:
    """Sequences past the explicit ids (PostgreSQL) and fresh planner statistics."""
    if _dialect() == "postgresql":
        for table in ("users", "two_factor_methods", "security_events"):
            db.session.execute(text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT coalesce(max(id), 1) FROM {table}))"
            ))
        db.session.commit()
        # Vacuumed, analysed and checkpointed now, so that autovacuum and a checkpoint do not run
        # on the freshly loaded tables while the TOTP step is being timed.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
            try:
                conn.execute(text("CHECKPOINT"))
            except Exception:  # needs superuser or pg_checkpoint; only a source of noise if skipped
                pass
    else:
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def count_events() -> int:
    return db.session.scalar(select(func.count()).select_from(SecurityEvent)) or 0


def password_hash() -> str:
    """The one Argon2id hash every seeded user shares (tfa's parameters)."""
    return passwords.hash_password(PASSWORD)


# --- what bench/run.py calls ----------------------------------------------------------------------

_HASH = {}


def make_app(env):
    """tfa's app in this process, on the bench database with the servers' keys."""
    from tfa import create_app
    from tfa.config import Config, database_url

    return create_app(
        Config, TFA_ENV="development", SQLALCHEMY_DATABASE_URI=database_url(env["DATABASE_URL"]),
        SECRET_KEY=env["SECRET_KEY"], TFA_ENCRYPTION_KEYS=env["TFA_ENCRYPTION_KEYS"],
        TFA_HMAC_KEY=env["TFA_HMAC_KEY"], REDIS_URL="", SESSION_COOKIE_SECURE=False, PROXY_COUNT=0,
        LOGIN_LIMIT_PER_IP=env["LOGIN_LIMIT_PER_IP"], LOGIN_LIMIT_PER_ACCOUNT=env["LOGIN_LIMIT_PER_ACCOUNT"],
    )


@contextmanager
def app_context(env):
    """An application context of make_app(env)."""
    app = make_app(env)
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


def _shared_hash():
    if "hash" not in _HASH:
        _HASH["hash"] = password_hash()
    return _HASH["hash"]


def seed_main(env, users: int) -> list[dict]:
    """The main database: `users` active users."""
    with app_context(env):
        prepare_platform()
        people = add_active_users(1, users, _shared_hash())
        finish()
    return people


def grow(env, size: int, active: int, events: int):
    """Bring the growth database to `size` users (the first `active` signable) and `events` events."""
    with app_context(env):
        have = count_users()
        people = None
        if have == 0:
            prepare_platform()
            people = add_active_users(1, active, _shared_hash())
            have = active
        add_filler_users(have + 1, size, _shared_hash())
        have_events = count_events()
        add_events(have_events + 1, events, size)
        finish()
        counts = {"users": count_users(), "events": count_events()}
    return people, counts


def explain_sign_in(env, person) -> list[dict]:
    """Run one sign-in in-process, capture every statement per step, and EXPLAIN each lookup.

    A lookup (SELECT, UPDATE, DELETE) on a table that grows must use an index: on SQLite its plan
    has no "SCAN <table>"; on PostgreSQL, planned with enable_seqscan off, no "Seq Scan" remains
    (so a tiny table that PostgreSQL would rather scan still shows whether an index exists).
    """
    import contextvars
    import re

    from sqlalchemy import event

    import driver

    captured = []
    step = {"name": None}

    def capture(conn, cursor, statement, parameters, context, executemany):
        if step["name"] and not executemany:
            captured.append((step["name"], statement, parameters))

    app = make_app(env)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", capture)
    client = app.test_client()

    def call(name, method, path, data=None):
        # Each request in its own context, as under gunicorn (no app context shared with this one).
        step["name"] = name
        response = contextvars.Context().run(client.open, path, method=method, data=data)
        step["name"] = None
        return response, response.get_data(as_text=True)

    _, html = call("login_page", "GET", "/login")
    response, _ = call("password", "POST", "/login", {"email": person["email"], "password": person["password"],
                                                       "csrf_token": driver.csrf_token(html)})
    assert response.status_code == 303, response.status_code
    _, html = call("verify_page", "GET", "/login/verify")
    response, _ = call("totp", "POST", "/login/verify", {"code": pyotp.TOTP(person["secret"]).now(),
                                                          "csrf_token": driver.csrf_token(html)})
    assert response.status_code == 303, response.status_code
    _, html = call("protected", "GET", "/account/security")
    assert person["email"] in html
    call("logout", "POST", "/logout", {"csrf_token": driver.csrf_token(html)})
    event.remove(engine, "before_cursor_execute", capture)

    with app.app_context():
        results, seen = [], set()
        dialect = _dialect()
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if dialect == "postgresql":
                cursor.execute("SET enable_seqscan = off")
            for name, statement, parameters in captured:
                verb = statement.lstrip().split(None, 1)[0].upper()
                if verb not in ("SELECT", "UPDATE", "DELETE") or (name, statement) in seen:
                    continue
                seen.add((name, statement))
                if dialect == "sqlite":
                    cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                    plan = [row[-1] for row in cursor.fetchall()]
                    bad = [p for p in plan if re.match(r"SCAN (\w+)", p) and
                           re.match(r"SCAN (\w+)", p).group(1) in GROWING_TABLES]
                else:
                    cursor.execute("EXPLAIN " + statement, parameters)
                    plan = [row[0] for row in cursor.fetchall()]
                    bad = [p for p in plan if "Seq Scan on" in p and
                           re.search(r"Seq Scan on (\w+)", p).group(1) in GROWING_TABLES]
                results.append({"step": name, "statement": " ".join(statement.split()), "plan": plan,
                                "indexed": not bad})
            if dialect == "postgresql":
                cursor.execute("RESET enable_seqscan")
        finally:
            raw.rollback()
            raw.close()
        db.session.remove()
        engine.dispose()
    return results


# Tables that grow with use: a lookup on them without an index is a finding.
GROWING_TABLES = ("users", "two_factor_methods", "security_events", "web_sessions",
                  "sent_codes", "backup_codes", "remembered_devices", "pending_enrollments")
