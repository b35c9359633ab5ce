"""Single use under concurrency: parallel requests with one code let exactly one through.

Runs on SQLite and on PostgreSQL (where requests really overlap in the database); each request
runs in its own thread with its own app context and database connection."""
import threading

import pytest
from sqlalchemy import select

from tests.conftest import csrf_token, gen_user, sign_in
from tests.factories import enable_platform, gen_backup_codes, gen_email, gen_totp
from tfa.extensions import db
from tfa.models import OutboxMessage

PARALLEL = 20


def _race(clients, code):
    """POST a code from every client at once; returns "signed in" or the status of each.

    `code` is the same code for all, or a function of the client's index."""
    code_of = code if callable(code) else (lambda i: code)
    tokens = [csrf_token(c.get("/login/verify")) for c in clients]
    barrier = threading.Barrier(len(clients))
    statuses = [None] * len(clients)

    def attempt(i):
        barrier.wait()
        response = clients[i].post("/login/verify", data={"csrf_token": tokens[i], "code": code_of(i)})
        # Signed in: a redirect to the start page (a finished attempt elsewhere sends others to /login).
        statuses[i] = "signed in" if response.headers.get("Location") == "/" else response.status_code

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return statuses


@pytest.fixture
def many(app):
    app.config.update(LOGIN_LIMIT_PER_ACCOUNT="1000/60", LOGIN_LIMIT_PER_IP="1000/60")
    enable_platform(max_failures=0)
    return app


def _sharing_one_email_sign_in(many):
    """The emailed code of a sign-in halfway through, and PARALLEL clients holding its session."""
    user = gen_user()
    gen_email(user)
    first = many.test_client()
    sign_in(first, user.email)
    body = db.session.scalars(select(OutboxMessage.body).order_by(OutboxMessage.id.desc())).first()
    code = next(w for w in body.split() if w.isdigit() and len(w) == 6)
    cookie = first.get_cookie("tfa_session").value
    clients = []
    for _ in range(PARALLEL):
        c = many.test_client()
        c.set_cookie("tfa_session", cookie)
        clients.append(c)
    return code, clients


def test_one_backup_code_in_20_parallel_requests_signs_in_once(many):
    user = gen_user()
    gen_totp(user)
    code = gen_backup_codes(user)[0]
    clients = []
    for _ in range(PARALLEL):
        c = many.test_client()
        sign_in(c, user.email)
        c.post("/login/verify/method", data={"csrf_token": csrf_token(c.get("/login/verify")), "method": "backup_codes"})
        clients.append(c)
    statuses = _race(clients, code)
    assert statuses.count("signed in") == 1, statuses
    assert set(statuses) <= {"signed in", 422}


def test_one_totp_code_in_20_parallel_requests_signs_in_once(many):
    user = gen_user()
    totp = gen_totp(user)
    clients = []
    for _ in range(PARALLEL):
        c = many.test_client()
        sign_in(c, user.email)
        clients.append(c)
    statuses = _race(clients, totp.now())
    assert statuses.count("signed in") == 1, statuses


def test_one_email_code_in_20_parallel_requests_signs_in_once(many):
    code, clients = _sharing_one_email_sign_in(many)
    statuses = _race(clients, code)
    assert statuses.count("signed in") == 1, statuses


@pytest.mark.parametrize("round_", range(3))
def test_right_and_wrong_codes_in_parallel_sign_in_once_without_errors(many, round_):
    # Wrong codes count failures (user row, then pending sign-in) while the right one finishes the
    # sign-in: both must take their locks in the same order, or PostgreSQL aborts one of them.
    code, clients = _sharing_one_email_sign_in(many)
    wrong = "000000" if code != "000000" else "111111"
    results = _race(clients, lambda i: code if i % 2 else wrong)
    assert results.count("signed in") == 1, results
    assert all(r == "signed in" or 400 <= r < 500 or r == 303 for r in results), results
