"""What every view shares: request details, HTMX responses, headers, error pages, the user loader."""
import hmac
import re
from urllib.parse import urlsplit

from flask import (
    current_app,
    flash,
    has_request_context,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFError
from sqlalchemy import bindparam, select
from werkzeug.exceptions import HTTPException

from tfa import events
from tfa.events import Client
from tfa.extensions import db, login_manager
from tfa.models import METHOD_LABELS, User

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
ERROR_TEXT = {
    400: ("Bad request", "The request could not be understood. Reload the page and try again."),
    403: ("Forbidden", "You do not have access to this page."),
    404: ("Not found", "There is no page at this address."),
    405: ("Method not allowed", "This page does not accept that kind of request."),
    413: ("Request too large", "The request is too large."),
    429: ("Too many requests", "Too many requests. Wait a moment and try again."),
    500: ("Something went wrong", "An unexpected error happened. Try again later."),
}


_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))  # every signed-in request: built once


def client() -> Client:
    """The requesting client, for the security event log."""
    return Client(ip=request.remote_addr, user_agent=(request.user_agent.string or "")[:255])


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def render(page: str, fragment: str | None = None, status: int = 200, **context):
    """The fragment for an HTMX request, the whole page otherwise (Vary: HX-Request)."""
    template = fragment if fragment and is_htmx() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str, status: int = 303):
    """A redirect that also works for HTMX requests (HX-Redirect)."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, status)


def no_store(response):
    """Mark a response that shows a secret or codes as not cacheable."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def safe_next(target: str | None) -> str | None:
    """A same-site path to go to after sign-in, or None."""
    if not target or len(target) > 512 or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if any(ord(c) < 32 for c in target):
        return None
    return target


def init_app(app):
    @login_manager.user_loader
    def load_user(user_id: str):
        user_pk, _, token = user_id.partition(":")
        if not user_pk.isascii() or not user_pk.isdigit() or not token:
            return None
        user = getattr(session, "user", None)  # loaded with the server-side session (tfa.sessions)
        if user is None or user.id != int(user_pk):
            user = db.session.execute(_USER_BY_ID, {"user_id": int(user_pk)}).scalar()
        if user is None or not user.enabled or not hmac.compare_digest(user.session_token, token):
            return None
        return user

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to see this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # sessions are server-side with rotating ids

    @login_manager.unauthorized_handler
    def unauthorized():
        target = request.full_path if request.method == "GET" and not is_htmx() else None
        url = url_for("auth.login", next=safe_next(target.rstrip("?")) if target else None)
        if is_htmx():
            return redirect_to(url)
        flash(login_manager.login_message, "info")
        return redirect(url)

    @app.before_request
    def refuse_control_characters():
        # NUL and other control characters have no place in any field; PostgreSQL rejects NUL.
        for values in (request.args, request.form if request.method == "POST" else {}):
            for value in values.values() if values else ():
                if _CONTROL.search(value):
                    return error_response(400, "The request contains characters that are not allowed.")

    @app.after_request
    def security_headers(response):
        h = response.headers
        present = {key.lower() for key in h.keys()}  # one pass, not one per header

        def default(name, value):
            if name.lower() not in present:
                h.add(name, value)

        for name, value in SECURITY_HEADERS:
            default(name, value)
        if current_app.config["SESSION_COOKIE_SECURE"]:
            default("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        if request.endpoint != "static":
            # Pages depend on who is signed in; no shared cache may keep them.
            default("Cache-Control", "private, no-cache")
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        return error_response(400, "The form has expired or is not valid. Reload the page and try again.")

    @app.errorhandler(HTTPException)
    def http_error(error):
        return error_response(error.code or 500)

    @app.errorhandler(Exception)
    def unexpected_error(error):
        current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
        db.session.rollback()
        return error_response(500)

    @app.context_processor
    def template_globals():
        return {
            "is_htmx": has_request_context() and is_htmx(),
            "development": current_app.config["TFA_ENV"] == "development",
            "event_labels": events.LABELS,
            "method_labels": METHOD_LABELS,
        }


def error_response(code: int, message: str | None = None):
    title, default = ERROR_TEXT.get(code, (f"Error {code}", "The request could not be completed."))
    message = message or default
    if request.accept_mimetypes.best == "application/json":
        return jsonify(status=code, message=message), code
    if is_htmx():
        # Shown by static/js/app.js in the flash region; the page stays as it was.
        response = make_response(message, code)
        response.mimetype = "text/plain"
        return response
    return make_response(render_template("errors/error.html", code=code, title=title, message=message), code)
