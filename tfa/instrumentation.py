"""Opt-in request instrumentation for `make bench` (off unless TFA_COUNT_SQL=1).

Each response then carries:

- `X-SQL-Count`: SQL statements the request ran, session load and save included;
- `X-Key-Setups`: keys built (HKDF derivations, Fernet and MultiFernet objects) by this process
  since it started serving; it stays 0 when keys are built once per process, as tfa.crypto intends;
- `X-Decrypts`: secrets decrypted by the request;
- `X-Worker-Pid`: the process that answered;
- `X-Hash-CPU-us`: CPU time (all threads) the request spent verifying or hashing passwords, so that
  the cost of everything else can be told apart from Argon2id's.

Nothing here changes what a request does; it only counts.
"""
import os
import time

from flask import g, has_app_context
from sqlalchemy import event

ENV_VAR = "TFA_COUNT_SQL"
_state = {"key_setups": 0}


def enabled() -> bool:
    return os.environ.get(ENV_VAR, "").strip().lower() in {"1", "true", "yes", "on"}


def _bump(name: str) -> None:
    if has_app_context():
        setattr(g, name, g.get(name, 0) + 1)


def _count_statement(conn, cursor, statement, parameters, context, executemany):
    _bump("_tfa_sql_count")


def _time_password_hashing():
    from tfa import passwords

    def timed(original):
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                if has_app_context():
                    g._tfa_hash_cpu = g.get("_tfa_hash_cpu", 0.0) + time.process_time() - start

        return wrapper

    passwords.verify_password = timed(passwords.verify_password)
    passwords.hash_password = timed(passwords.hash_password)


def _count_key_setups():
    from tfa import crypto

    original_derive, original_fernet, original_multi = crypto._derive, crypto.Fernet, crypto.MultiFernet
    original_decrypt = crypto.decrypt

    def derive(*args, **kwargs):
        _state["key_setups"] += 1
        return original_derive(*args, **kwargs)

    def fernet(*args, **kwargs):
        _state["key_setups"] += 1
        return original_fernet(*args, **kwargs)

    def multi_fernet(*args, **kwargs):
        _state["key_setups"] += 1
        return original_multi(*args, **kwargs)

    def decrypt(token):
        _bump("_tfa_decrypts")
        return original_decrypt(token)

    crypto._derive, crypto.Fernet, crypto.MultiFernet, crypto.decrypt = derive, fernet, multi_fernet, decrypt


def init_app(app):
    """Install the counters when TFA_COUNT_SQL is set; otherwise do nothing."""
    if not enabled():
        return
    from tfa.extensions import db

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", _count_statement)
    _count_key_setups()
    _time_password_hashing()

    # The session is saved after the after_request functions, so the header is set after it.
    interface = app.session_interface
    save_session = interface.save_session

    def save_and_report(app_, session, response):
        save_session(app_, session, response)
        response.headers["X-SQL-Count"] = str(g.get("_tfa_sql_count", 0))
        response.headers["X-Key-Setups"] = str(_state["key_setups"])
        response.headers["X-Decrypts"] = str(g.get("_tfa_decrypts", 0))
        response.headers["X-Worker-Pid"] = str(os.getpid())
        response.headers["X-Hash-CPU-us"] = str(round(g.get("_tfa_hash_cpu", 0.0) * 1e6))

    interface.save_session = save_and_report
