"""Database models. Times are timezone-aware UTC (see tfa.types.UTCDateTime)."""
from datetime import datetime
from typing import Any, Optional

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tfa.extensions import db
from tfa.types import UTCDateTime, utcnow

BigId = BigInteger().with_variant(Integer, "sqlite")

ROLE_SYSADMIN = "sysadmin"
ROLE_USER = "user"

TOTP = "totp"
SMS = "sms"
EMAIL = "email"
BACKUP_CODES = "backup_codes"
# The order methods are listed in everywhere (SPEC 4).
METHOD_ORDER = (TOTP, SMS, EMAIL, BACKUP_CODES)
METHOD_LABELS = {
    TOTP: "Authenticator app",
    SMS: "SMS",
    EMAIL: "Email",
    BACKUP_CODES: "Backup codes",
}


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored lower-cased: addresses are unique case-insensitively.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[str] = mapped_column(String(16), default=ROLE_USER)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Part of the Flask-Login id: rotating it signs the user out everywhere.
    session_token: Mapped[str] = mapped_column(String(64))
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The second step's state, in the one row every check of this user's codes updates (so that
    # checks in parallel, in any number of processes, are serialised on it): failures in a row,
    # the lock, the last accepted authenticator-app step (replay guard), and the pending sign-in
    # whose failure was last mailed (at most one mail per attempt).
    failed_verifications: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[Optional[int]] = mapped_column(BigInteger)
    failure_notified_for: Mapped[Optional[str]] = mapped_column(String(64))
    last_sign_in_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def get_id(self):
        return f"{self.id}:{self.session_token}"

    @property
    def is_admin(self):
        return self.role == ROLE_SYSADMIN

    @property
    def is_locked(self):
        return self.locked_at is not None

    @property
    def status(self):
        if not self.enabled:
            return "disabled"
        return "locked" if self.is_locked else "active"

    def __repr__(self):
        return f"<User {self.id} {self.email}>"


class TwoFactorMethod(db.Model):
    """A verified second factor of one user. Backup codes are a row of kind backup_codes."""

    __tablename__ = "two_factor_methods"
    __table_args__ = (UniqueConstraint("user_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    is_main: Mapped[bool] = mapped_column(Boolean, default=False)
    # TOTP only: the secret, encrypted (tfa.crypto); its last accepted step is User.totp_last_step.
    secret_encrypted: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    # SMS: E.164 phone number; email: address.
    destination: Mapped[Optional[str]] = mapped_column(String(254))
    enabled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PendingEnrollment(db.Model):
    """A method being set up: its secret or destination until a code proves it."""

    __tablename__ = "pending_enrollments"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    secret_encrypted: Mapped[Optional[bytes]] = mapped_column(LargeBinary)
    destination: Mapped[Optional[str]] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackupCode(db.Model):
    __tablename__ = "backup_codes"
    __table_args__ = (Index("ix_backup_codes_user_id_code_hash", "user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))  # HMAC-SHA256, hex
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SentCode(db.Model):
    """A code sent by SMS or email, bound to one sign-in or enrollment, method and destination."""

    __tablename__ = "sent_codes"
    __table_args__ = (Index("ix_sent_codes_context_id_method", "context_id", "method"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "signin" or "enroll"
    context_id: Mapped[str] = mapped_column(String(64))  # a pending sign-in's id (tfa.signin) or PendingEnrollment.id
    method: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(254))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)


class RememberedDevice(db.Model):
    __tablename__ = "remembered_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip: Mapped[Optional[str]] = mapped_column(String(64))
    user_agent: Mapped[Optional[str]] = mapped_column(String(255))


class SecurityEvent(db.Model):
    """One entry of the security event log. Never holds a code or a secret."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_id: Mapped[Optional[int]] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(40))
    method: Mapped[Optional[str]] = mapped_column(String(16))
    ip: Mapped[Optional[str]] = mapped_column(String(64))
    user_agent: Mapped[Optional[str]] = mapped_column(String(255))
    details: Mapped[Optional[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Setting(db.Model):
    """One settings document (two_factor, mail, sms) as JSON."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class OutboxMessage(db.Model):
    """A message kept instead of sent (development outbox)."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(8))  # "email" or "sms"
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WebSession(db.Model):
    """A browser session kept on the server; the cookie carries only a random identifier."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the cookie
    user_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
