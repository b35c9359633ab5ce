"""A reference point for `make bench`: the least a Flask request that touches the database does.

GET /bare/<id> reads one row of tfa's `users` table by primary key (Flask-SQLAlchemy, same
database, the same engine options as tfa) and sets a session cookie (Flask's signed cookie). It runs
under the same gunicorn settings as tfa, so tfa's figures can be stated as multiples of it.
"""
import os

from flask import Flask, abort, session
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tfa.config import database_url, engine_options

db = SQLAlchemy()


class BareUser(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))


def create_app():
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ["SECRET_KEY"],
        SQLALCHEMY_DATABASE_URI=database_url(os.environ["DATABASE_URL"]),
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(database_url(os.environ["DATABASE_URL"])),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=True,
    )
    db.init_app(app)

    @app.get("/bare/<int:user_id>")
    def bare(user_id):
        user = db.session.get(BareUser, user_id)
        if user is None:
            abort(404)
        session["uid"] = user.id
        return user.email

    @app.get("/healthz")
    def healthz():
        return "ok"

    return app


app = create_app()
