"""Configuration classes that read the environment (and `.env`)."""
import os
from pathlib import Path

from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(BASE_DIR / ".env")

# Only for development: production refuses to start with it (see tfa.create_app).
DEV_SECRET_KEY = "dev-only-secret-key-change-me"


def _bool(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def database_url(url):
    """Point plain `postgresql://` URLs at the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def engine_options(url):
    """Pre-ping checks that a pooled server connection is still alive before each use (a restart
    of PostgreSQL, an idle timeout on the way); a SQLite file has no connection to lose."""
    return {} if url.startswith("sqlite") else {"pool_pre_ping": True}


class Config:
    TFA_ENV = os.environ.get("TFA_ENV", "development")
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = database_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'instance' / 'tfa.db'}")
    )
    SQLALCHEMY_ENGINE_OPTIONS = None  # None: engine_options() for the database URL
    # Rate limits: memory by default, shared between processes through Redis when set.
    REDIS_URL = os.environ.get("REDIS_URL", "")
    LIMITS_KEY_PREFIX = os.environ.get("TFA_LIMITS_PREFIX", "tfa")

    # Encryption at rest: comma-separated Fernet keys, newest first. Empty in development
    # means a key derived from SECRET_KEY. Keyed hashes use TFA_HMAC_KEY (or SECRET_KEY).
    TFA_ENCRYPTION_KEYS = os.environ.get("TFA_ENCRYPTION_KEYS", "")
    TFA_HMAC_KEY = os.environ.get("TFA_HMAC_KEY", "")

    # Sessions live on the server; the cookie holds a random identifier only.
    SESSION_COOKIE_NAME = "tfa_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", False)
    SESSION_IDLE_MINUTES = _int("SESSION_IDLE_MINUTES", 30)
    SESSION_ABSOLUTE_HOURS = _int("SESSION_ABSOLUTE_HOURS", 12)
    REMEMBER_DEVICE_COOKIE_NAME = "tfa_device"

    WTF_CSRF_TIME_LIMIT = None  # bounded by the session lifetime instead
    # Each process keeps the platform settings this long before reading them again; a change made
    # in one process is seen at once there and within this time by the others. 0: read per request.
    SETTINGS_CACHE_SECONDS = _int("SETTINGS_CACHE_SECONDS", 5)

    # Argon2id; argon2-cffi's defaults are RFC 9106's low-memory profile.
    ARGON2_TIME_COST = _int("ARGON2_TIME_COST", 3)
    ARGON2_MEMORY_COST = _int("ARGON2_MEMORY_COST", 65536)
    ARGON2_PARALLELISM = _int("ARGON2_PARALLELISM", 4)
    # Threads per verify (the hash does not depend on it): 1 costs the least CPU per sign-in.
    ARGON2_THREADS = _int("ARGON2_THREADS", 1)
    # Keep a verify's memory for the next one (tfa.passwords.Verifier): a fifth less CPU per verify,
    # for one page of writable code that cffi's callbacks need. Off: argon2-cffi's own verify.
    ARGON2_KEEP_MEMORY = _bool("ARGON2_KEEP_MEMORY", True)

    # Sign-in attempts: "N per S seconds", per client IP and per account.
    LOGIN_LIMIT_PER_IP = os.environ.get("LOGIN_LIMIT_PER_IP", "30/300")
    LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "10/900")
    # Code sends during enrollment: hourly cap per user and per destination.
    SEND_LIMIT_PER_HOUR = _int("SEND_LIMIT_PER_HOUR", 10)
    # How many proxies in front of tfa set X-Forwarded-For (0: use the socket address).
    PROXY_COUNT = _int("PROXY_COUNT", 0)

    # Mail server presets (the admin page can override them).
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "")
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USE_TLS = _bool("MAIL_USE_TLS")
    MAIL_USE_SSL = _bool("MAIL_USE_SSL")
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME", "")
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD", "")
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "")
    MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 10)
    # Extra certificate authorities to trust for the mail server (verification is always on).
    MAIL_CA_FILE = os.environ.get("MAIL_CA_FILE", "")
    # SMS providers: seconds to wait, and another address for Twilio's API (a proxy, tests).
    SMS_TIMEOUT = _int("SMS_TIMEOUT", 10)
    TWILIO_API_URL = os.environ.get("TWILIO_API_URL", "")

    TESTING = False


class ProductionConfig(Config):
    TFA_ENV = "production"
    SESSION_COOKIE_SECURE = True


class TestConfig(Config):
    TESTING = True
    TFA_ENV = "development"
    SECRET_KEY = "test-secret-key"
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    REDIS_URL = ""
    TFA_ENCRYPTION_KEYS = ""
    TFA_HMAC_KEY = ""
    # Cheap hashes keep the suite fast; production uses the defaults above.
    ARGON2_TIME_COST = 1
    ARGON2_MEMORY_COST = 1024
    ARGON2_PARALLELISM = 1
    MAIL_SERVER = ""
    MAIL_DEFAULT_SENDER = ""
    SESSION_COOKIE_SECURE = False


def config_for_env():
    """The config class for TFA_ENV."""
    return ProductionConfig if os.environ.get("TFA_ENV") == "production" else Config
