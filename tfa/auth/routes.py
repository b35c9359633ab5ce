"""Sign-in, the second step and sign-out; the views orchestrate, tfa.signin decides."""
from flask import current_app, flash, request, session, url_for
from flask_login import current_user, login_user, logout_user

from tfa import events, sessions, settings, signin
from tfa.auth import bp
from tfa.auth.forms import ChooseMethodForm, LoginForm, ActionForm, VerifyForm
from tfa.methods import codes
from tfa.models import BACKUP_CODES, EMAIL, SMS
from tfa.web import client, no_store, redirect_to, render, safe_next

NEXT_KEY = "next_after_sign_in"
# Endpoints a pending sign-in may reach; everything else sends it back to its step.
PENDING_ENDPOINTS = {
    "auth.login", "auth.logout", "auth.verify", "auth.verify_code", "auth.verify_resend", "auth.verify_methods",
    "auth.verify_choose", "auth.setup", "main.healthz", "static",
}
# The enrollment steps (the security page's panel views) a user forced to set up a method may use.
SETUP_ENDPOINTS = {
    "auth.setup_finish", "security.show_panel", "security.switch_method", "security.send_code",
    "security.resend_code", "security.verify_code", "security.cancel_setup", "security.use_as_main",
    "security.confirm_password", "security.regenerate_codes", "security.confirm_codes_saved",
    "security.download_codes", "security.print_codes",
}


@bp.before_app_request
def hold_pending_sign_in():
    """While a sign-in waits for its second step, nothing else is reachable."""
    if signin.SESSION_KEY not in session:
        return None
    endpoint = request.endpoint or ""
    if endpoint in PENDING_ENDPOINTS:
        return None
    pending, expired = signin.load_pending(session)
    if pending is not None and pending.stage == signin.STAGE_SETUP and endpoint in SETUP_ENDPOINTS:
        return None
    if pending is None:
        if expired:
            flash(signin.VERIFICATION_EXPIRED, "error")
            return redirect_to(url_for("auth.login"))
        return None
    return redirect_to(url_for("auth.verify" if pending.stage == signin.STAGE_VERIFY else "auth.setup"))


def _finish_sign_in(user, *, device_token=None):
    """Renew the session and sign the user in; returns the redirect."""
    next_url = safe_next(session.get(NEXT_KEY))
    session.clear()
    sessions.rotate(session)
    login_user(user)
    response = redirect_to(next_url or url_for("main.index"))
    if device_token:
        s = settings.two_factor()
        response.set_cookie(
            current_app.config["REMEMBER_DEVICE_COOKIE_NAME"], device_token,
            max_age=s.remember_device_days * 86400, httponly=True, samesite="Lax",
            secure=current_app.config["SESSION_COOKIE_SECURE"],
        )
    return response


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect_to(url_for("main.index"))
    form = LoginForm()
    next_url = safe_next(request.args.get("next"))
    if form.validate_on_submit():
        result = signin.check_password(form.email.data, form.password.data, client(), current_app.config)
        if result.error:
            form.password.errors.append(result.error)
            status = 429 if result.retry_after else 422
            return render("auth/login.html", "auth/_login_form.html", status=status, form=form, next_url=next_url)
        s = settings.two_factor()
        signin.clear_pending(session)
        session.clear()
        sessions.rotate(session)
        step = signin.begin(
            result.user, result.methods, session, s, client(),
            device_token=request.cookies.get(current_app.config["REMEMBER_DEVICE_COOKIE_NAME"]),
        )
        session[NEXT_KEY] = next_url
        if step == signin.SIGNED_IN:
            if not signin.complete(result.user, client()):
                session.clear()
                sessions.rotate(session)  # a CSRF token for the form shown again
                form.password.errors.append(signin.ACCOUNT_LOCKED)
                return render("auth/login.html", "auth/_login_form.html", status=422, form=form, next_url=next_url)
            return _finish_sign_in(result.user)
        if step == signin.SETUP:
            return redirect_to(url_for("auth.setup"))
        pending, _ = signin.load_pending(session)
        error = signin.send_code_if_needed(pending, session, s, client(), config=current_app.config,
                                           rows=result.methods)
        if error:
            flash(error, "error")
        return redirect_to(url_for("auth.verify"))
    status = 422 if form.errors else 200
    return render("auth/login.html", "auth/_login_form.html", status=status, form=form, next_url=next_url)


def _pending_or_redirect():
    pending, expired = signin.load_pending(session)
    if pending is None:
        flash(signin.VERIFICATION_EXPIRED if expired else "Sign in first.", "error")
        return None, redirect_to(url_for("auth.login"))
    if pending.stage != signin.STAGE_VERIFY:
        return None, redirect_to(url_for("auth.setup"))
    return pending, None


def _verify_panel(pending, form=None, status=200, message=None):
    s = settings.two_factor()
    # After a POST the request may have committed (a failed check, a send): read the methods again.
    _, rows = signin.user_with_methods(session, pending, fresh=request.method != "GET")
    active = signin.methods.active_of(rows, s)
    kinds = signin.usable_kinds(pending.user_id, active)
    method = next((m for m in active if m.kind == pending.method), None)
    form = form or VerifyForm()
    if pending.method == BACKUP_CODES:
        form.code.label.text = "Backup code"
    form.remember.label.text = f"Remember this device for {s.remember_device_days} days"
    sent_to = None
    resend_in = 0
    if pending.method in (SMS, EMAIL) and method is not None:
        last = codes.latest(pending.id, pending.method)
        sent_to = signin.mask_destination(pending.method, method.destination) if last else None
        resend_in = codes.wait_after(last, s.retry_period)
    response = render(
        "auth/verify.html", "auth/_verify_panel.html", status=status,
        form=form, pending=pending, method=pending.method, sent_to=sent_to, resend_in=resend_in,
        other_methods=[k for k in kinds if k != pending.method], resend_form=ActionForm(),
        remember_days=s.remember_device_days, message=message,
    )
    return no_store(response)


@bp.get("/login/verify")
def verify():
    pending, response = _pending_or_redirect()
    return response or _verify_panel(pending)


@bp.post("/login/verify")
def verify_code():
    pending, response = _pending_or_redirect()
    if response:
        return response
    form = VerifyForm()
    if not form.validate_on_submit():
        return _verify_panel(pending, form, status=422)
    s = settings.two_factor()
    result = signin.check_code(pending, form.code.data, session, s, client(), remember=form.remember.data)
    if result.ok:
        return _finish_sign_in(result.user, device_token=result.device_token)
    if result.locked or result.ended:
        signin.clear_pending(session)
        flash(signin.ACCOUNT_LOCKED if result.locked else signin.VERIFICATION_EXPIRED, "error")
        return redirect_to(url_for("auth.login"))
    pending, response = _pending_or_redirect()  # a parallel request may have finished it
    if response:
        return response
    form.code.errors.append(result.error)
    return _verify_panel(pending, form, status=429 if result.retry_after else 422)


@bp.post("/login/verify/resend")
def verify_resend():
    pending, response = _pending_or_redirect()
    if response:
        return response
    form = ActionForm()
    if not form.validate_on_submit():
        return _verify_panel(pending, status=400)
    sent = signin.send_code(pending, session, settings.two_factor(), client(), config=current_app.config)
    if sent.error:
        return _verify_panel(pending, status=429 if sent.retry_after else 422, message=sent.error)
    return _verify_panel(pending, message="A new code was sent.")


@bp.get("/login/verify/methods")
def verify_methods():
    pending, response = _pending_or_redirect()
    if response:
        return response
    s = settings.two_factor()
    active = {m.kind: m for m in signin.methods.active(pending.user_id, s)}
    choices = [
        (kind, signin.mask_destination(kind, active[kind].destination))
        for kind in signin.user_methods(pending, s)
    ]
    return render("auth/verify_methods.html", "auth/_verify_methods.html", choices=choices,
                  current=pending.method, form=ChooseMethodForm())


@bp.post("/login/verify/method")
def verify_choose():
    pending, response = _pending_or_redirect()
    if response:
        return response
    form = ChooseMethodForm()
    s = settings.two_factor()
    if not form.validate_on_submit() or not signin.choose_method(pending, session, form.method.data, s):
        return _verify_panel(pending, status=422, message="Choose one of your methods.")
    return _verify_panel(pending, message=signin.send_code_if_needed(pending, session, s, client(), config=current_app.config))


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        events.record(events.SIGN_OUT, user=current_user, client=client())
    signin.clear_pending(session, commit=False)
    sessions.commit_with_session(session)  # stored with the end of the session, in one commit
    logout_user()
    session.clear()
    flash("You have been signed out.", "info")
    sessions.rotate(session)
    return redirect_to(url_for("auth.login"))


def _setup_user_or_redirect():
    pending, expired = signin.load_pending(session)
    user = signin.setup_user(session) if pending is not None else None
    if user is None:
        flash(signin.VERIFICATION_EXPIRED if expired else "Sign in first.", "error")
        return None, redirect_to(url_for("auth.login"))
    return user, None


def _setup_page(user, status=200, message=None):
    from tfa.security.routes import setup_page

    return setup_page(user, status, message=message)


@bp.get("/login/setup")
def setup():
    user, response = _setup_user_or_redirect()
    return response or _setup_page(user)


@bp.post("/login/setup/finish")
def setup_finish():
    user, response = _setup_user_or_redirect()
    if response:
        return response
    if not ActionForm().validate_on_submit():
        return _setup_page(user, status=400)
    finished = signin.finish_setup(session, settings.two_factor(), client())
    if finished is None:
        return _setup_page(user, status=422, message="Set up a method first: it is required to sign in.")
    return _finish_sign_in(finished)
