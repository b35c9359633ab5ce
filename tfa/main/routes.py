"""Home, health check and the development outbox."""
from flask import abort, current_app, redirect, url_for
from flask_login import login_required
from sqlalchemy import text

from tfa.delivery import outbox
from tfa.extensions import csrf, db
from tfa.main import bp
from tfa.web import render


@bp.get("/")
@login_required
def index():
    return redirect(url_for("security.security_page"))


@bp.get("/healthz")
@csrf.exempt
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:  # any failure to reach the database is "unhealthy"
        current_app.logger.warning("health check: database unreachable")
        db.session.rollback()
        return {"status": "unavailable", "database": "unreachable"}, 503
    return {"status": "ok", "database": "ok"}, 200


@bp.get("/dev/outbox")
def dev_outbox():
    if current_app.config["TFA_ENV"] != "development":
        abort(404)
    return render("dev/outbox.html", messages=outbox.latest())
