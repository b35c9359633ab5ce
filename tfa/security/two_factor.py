"""The method panels: the switch, setting up the authenticator app, SMS and email, the main method,
and the password confirmation before a method is turned off or moved.

Each view answers HTMX with the panel (422 with the panel for a mistake) and a plain form post with
a 303 redirect to the page, or the page with the panel when there is something to fix.
"""
from flask import abort, redirect, url_for

from tfa import enrollment, methods, reauth, settings
from tfa.enrollment import EnrollmentError
from tfa.models import BACKUP_CODES, EMAIL, SMS, TOTP
from tfa.security import backup, bp, panels
from tfa.security.forms import CodeForm, ConfirmPasswordForm, EmailForm, PhoneForm, SwitchForm
from tfa.security.routes import (
    done,
    enrolling_user,
    is_htmx,
    kind_from,
    mark_confirmed,
    recently_confirmed,
    release_codes,
    respond_panel,
)
from tfa.web import client


def refuse(kind, error: EnrollmentError, form=None, **values):
    """The panel with the error next to its field (or at the top), 422 or 429."""
    status = 429 if error.status == 429 else 422
    if form is not None and error.field and error.field in form:
        form[error.field].errors = list(form[error.field].errors) + [str(error)]
        return respond_panel(kind, status, state=panels.SETUP, forms={error.field: form}, **values)
    return respond_panel(kind, status, error=str(error), **values)


def _destination_kind(method):
    kind = kind_from(method)
    if kind not in (SMS, EMAIL):
        abort(404)
    return kind


def ask_password(kind, action):
    """Turn the panel into "Confirm your password" before `action`."""
    return respond_panel(kind, state=panels.CONFIRM, confirm_action=action)


@bp.get("/account/security/<method>/panel")
def show_panel(method):
    kind = kind_from(method)
    enrolling_user()
    if not is_htmx():
        return redirect(url_for("security.security_page"), 303)
    return respond_panel(kind)


@bp.post("/account/security/<method>/switch")
def switch_method(method):
    kind = kind_from(method)
    user = enrolling_user()
    form = SwitchForm()
    is_on = kind in methods.all_of(user.id)
    if form.enabled.data:
        if is_on:
            return done(kind, f"{panels.METHOD_LABELS[kind]} is already on.", others=False)
        if kind == BACKUP_CODES:
            return backup.turn_on(user)
        if enrollment.pending_for(user.id, kind) is None:
            if kind == TOTP:
                enrollment.start_totp(user)
            else:
                enrollment.start_destination(user, kind)
        return done(kind, None, others=False)
    if not is_on:
        enrollment.cancel(user, kind)
        return done(kind, None, others=False)
    problem = enrollment.disable_problem(user, kind, settings.two_factor())
    if problem:
        return respond_panel(kind, 422, error=problem)
    if not recently_confirmed():
        return ask_password(kind, "disable")
    return turn_off(user, kind)


def turn_off(user, kind):
    try:
        enrollment.disable(user, kind, client=client(), settings=settings.two_factor())
    except EnrollmentError as error:
        return refuse(kind, error)
    if BACKUP_CODES not in methods.all_of(user.id):
        release_codes()
    return done(kind, f"{panels.METHOD_LABELS[kind]} is off.")


@bp.post("/account/security/<method>/send")
def send_code(method):
    kind = _destination_kind(method)
    user = enrolling_user()
    form = PhoneForm() if kind == SMS else EmailForm()
    if not form.validate():
        return respond_panel(kind, 422, state=panels.SETUP, forms={"destination": form})
    try:
        sent = enrollment.send_code(user, kind, form.destination.data, client=client(), settings=settings.two_factor())
    except EnrollmentError as error:
        return refuse(kind, error, form)
    return done(kind, f"A verification code was sent to {sent.destination}.", others=False)


@bp.post("/account/security/<method>/resend")
def resend_code(method):
    kind = _destination_kind(method)
    user = enrolling_user()
    try:
        sent = enrollment.resend_code(user, kind, client=client(), settings=settings.two_factor())
    except EnrollmentError as error:
        return refuse(kind, error)
    return done(kind, f"A new verification code was sent to {sent.destination}.", others=False)


@bp.post("/account/security/<method>/verify")
def verify_code(method):
    kind = kind_from(method)
    if kind == BACKUP_CODES:
        abort(404)
    user = enrolling_user()
    form = CodeForm()
    if not form.validate():
        if enrollment.pending_for(user.id, kind) is None:
            return respond_panel(kind, 422, error=enrollment.NOT_SENT)
        return respond_panel(kind, 422, state=panels.SETUP, forms={"code": form})
    s = settings.two_factor()
    try:
        if kind == TOTP:
            enrollment.confirm_totp(user, form.code.data, client=client(), settings=s)
        else:
            enrollment.confirm_destination(user, kind, form.code.data, client=client(), settings=s)
    except EnrollmentError as error:
        return refuse(kind, error, form)
    return done(kind, f"{panels.METHOD_LABELS[kind]} is on.")


@bp.post("/account/security/<method>/cancel")
def cancel_setup(method):
    kind = kind_from(method)
    user = enrolling_user()
    enrollment.cancel(user, kind)
    return done(kind, None, others=False)


@bp.post("/account/security/<method>/change")
def change_destination(method):
    kind = _destination_kind(method)
    user = enrolling_user()
    if kind not in methods.all_of(user.id):
        return respond_panel(kind, 422, error=f"{panels.METHOD_LABELS[kind]} is not on.")
    if not recently_confirmed():
        return ask_password(kind, "change")
    return start_change(user, kind)


def start_change(user, kind):
    enrollment.start_destination(user, kind)
    return done(kind, None, others=False)


@bp.post("/account/security/<method>/main")
def use_as_main(method):
    kind = kind_from(method)
    user = enrolling_user()
    try:
        enrollment.set_main(user, kind, client=client(), settings=settings.two_factor())
    except EnrollmentError as error:
        return refuse(kind, error)
    return done(kind, f"{panels.METHOD_LABELS[kind]} is now your main method.")


@bp.post("/account/security/<method>/confirm-password")
def confirm_password(method):
    kind = kind_from(method)
    user = enrolling_user()
    form = ConfirmPasswordForm()
    action = form.action.data if form.action.data in panels.REAUTH_PURPOSES else None
    if action is None:
        abort(400)
    if not form.validate():
        return respond_panel(kind, 422, state=panels.CONFIRM, confirm_action=action, forms={"confirm": form})
    confirmation = reauth.confirm_password(user, form.password.data, client=client())
    if not confirmation:
        form.password.errors = list(form.password.errors) + [confirmation.error]
        status = 429 if confirmation.retry_after else 422
        return respond_panel(kind, status, state=panels.CONFIRM, confirm_action=action, forms={"confirm": form})
    mark_confirmed()
    # The confirmed change goes ahead, checked again as if it had been asked for now.
    if action == "disable":
        if kind not in methods.all_of(user.id):
            return done(kind, None, others=False)
        return turn_off(user, kind)
    if action == "change":
        if kind not in (SMS, EMAIL) or kind not in methods.all_of(user.id):
            abort(400)
        return start_change(user, kind)
    if kind != BACKUP_CODES:
        abort(400)
    return backup.regenerate(user)
