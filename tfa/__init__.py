"""The application factory: configuration, extensions, blueprints, CLI, error pages, headers."""
import logging
from pathlib import Path

from flask import Flask

from tfa.config import BASE_DIR, DEV_SECRET_KEY, config_for_env, engine_options


def create_app(config_class=None, **overrides):
    """Build the Flask application (config from the environment unless a class is given)."""
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
        instance_path=str(BASE_DIR / "instance"),
    )
    app.config.from_object(config_class or config_for_env())
    app.config.update(overrides)
    if app.config["SQLALCHEMY_ENGINE_OPTIONS"] is None:
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config["SQLALCHEMY_DATABASE_URI"])
    _check_config(app)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]).parent.mkdir(
            parents=True, exist_ok=True
        )

    from tfa import crypto, limits, passwords, web
    from tfa.extensions import csrf, db, login_manager, mail
    from tfa.sessions import ServerSessionInterface

    db.init_app(app)
    csrf.init_app(app)
    mail.init_app(app)
    login_manager.init_app(app)
    crypto.init_app(app)
    passwords.init_app(app)
    limits.init_app(app)
    app.session_interface = ServerSessionInterface()

    if app.config.get("PROXY_COUNT"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    from tfa.admin import bp as admin_bp
    from tfa.auth import bp as auth_bp
    from tfa.main import bp as main_bp
    from tfa.security import bp as security_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(security_bp)
    app.register_blueprint(admin_bp)

    web.init_app(app)

    from tfa import cli

    cli.init_app(app)
    from tfa import instrumentation  # opt-in counters for `make bench` (TFA_COUNT_SQL=1), off by default

    instrumentation.init_app(app)
    return app


def _check_config(app):
    if app.config["TFA_ENV"] not in {"development", "production"}:
        raise RuntimeError("TFA_ENV must be 'development' or 'production'")
    if app.config["TFA_ENV"] == "production":
        if app.config["SECRET_KEY"] in (DEV_SECRET_KEY, "", None) or len(app.config["SECRET_KEY"]) < 32:
            raise RuntimeError(
                "Refusing to start in production with the development (or a short) SECRET_KEY: "
                "set SECRET_KEY to a long random value"
            )
        app.config["SESSION_COOKIE_SECURE"] = True
