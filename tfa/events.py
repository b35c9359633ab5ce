"""The security event log: who did what, when, from where. Never a code or a secret."""
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select

from tfa.extensions import db
from tfa.models import SecurityEvent
from tfa.types import utcnow

# Event kinds (SPEC 7).
SIGN_IN = "sign_in"
SIGN_OUT = "sign_out"
FAILED_PASSWORD = "failed_password"
FAILED_CODE = "failed_code"
CODE_SENT = "code_sent"
SEND_FAILED = "send_failed"
LOCKOUT = "lockout"
UNLOCK = "unlock"
METHOD_ENABLED = "method_enabled"
METHOD_DISABLED = "method_disabled"
METHOD_CHANGED = "method_changed"
MAIN_METHOD_CHANGED = "main_method_changed"
BACKUP_CODES_GENERATED = "backup_codes_generated"
BACKUP_CODE_USED = "backup_code_used"
DEVICE_REMEMBERED = "device_remembered"
DEVICE_FORGOTTEN = "device_forgotten"
PASSWORD_CHANGED = "password_changed"
SETTINGS_CHANGED = "settings_changed"
USER_CREATED = "user_created"
USER_DISABLED = "user_disabled"
USER_ENABLED = "user_enabled"
TWO_FACTOR_RESET = "two_factor_reset"

LABELS = {
    SIGN_IN: "Signed in",
    SIGN_OUT: "Signed out",
    FAILED_PASSWORD: "Wrong password",
    FAILED_CODE: "Wrong verification code",
    CODE_SENT: "Verification code sent",
    SEND_FAILED: "Verification code could not be sent",
    LOCKOUT: "Account locked",
    UNLOCK: "Account unlocked",
    METHOD_ENABLED: "Method enabled",
    METHOD_DISABLED: "Method disabled",
    METHOD_CHANGED: "Method changed",
    MAIN_METHOD_CHANGED: "Main method changed",
    BACKUP_CODES_GENERATED: "Backup codes generated",
    BACKUP_CODE_USED: "Backup code used",
    DEVICE_REMEMBERED: "Device remembered",
    DEVICE_FORGOTTEN: "Device forgotten",
    PASSWORD_CHANGED: "Password changed",
    SETTINGS_CHANGED: "Settings changed",
    USER_CREATED: "User created",
    USER_DISABLED: "User disabled",
    USER_ENABLED: "User enabled",
    TWO_FACTOR_RESET: "Two-factor authentication reset",
}


@dataclass(frozen=True)
class Client:
    """Where a request came from; views build it, services record it."""

    ip: str | None = None
    user_agent: str | None = None


NO_CLIENT = Client()


_INSERT = insert(SecurityEvent.__table__)  # built once: every sign-in step that changes something records


def record(kind, user=None, client=NO_CLIENT, method=None, actor=None, details=None) -> None:
    """Insert a security event in the current transaction (the caller commits).

    `user` and `actor` are users or their ids, and must already be in the database.
    """
    record_each([kind], user=user, client=client, method=method, actor=actor, details=details)


def record_each(kinds, user=None, client=NO_CLIENT, method=None, actor=None, details=None) -> None:
    """Insert one event of each kind, alike but for the kind, in one statement (see record())."""
    now = utcnow()
    common = {
        "user_id": getattr(user, "id", user),
        "actor_id": getattr(actor, "id", actor),
        "method": method,
        "ip": (client.ip or "")[:64] or None,
        "user_agent": (client.user_agent or "")[:255] or None,
        "details": details,
        "created_at": now,
    }
    rows = [{"kind": kind, **common} for kind in kinds]
    db.session.execute(_INSERT, rows if len(rows) > 1 else rows[0])


_E = SecurityEvent.__table__
# The security page shows these on every visit: built once, read as plain rows.
_RECENT = (
    select(_E.c.kind, _E.c.method, _E.c.ip, _E.c.created_at)
    .where(_E.c.user_id == bindparam("user_id"))
    .order_by(_E.c.created_at.desc(), _E.c.id.desc())
    .limit(bindparam("limit"))
)


def recent_for(user, limit=20):
    """The user's latest security events (kind, method, ip, created_at), newest first."""
    return db.session.execute(_RECENT, {"user_id": user.id, "limit": limit}).all()
