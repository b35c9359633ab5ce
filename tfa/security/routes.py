"""The security page: password, two-factor methods, remembered devices, recent activity.

The method panels have their own views (two_factor.py, backup.py); this module holds the page, the
password change, remembered devices, and what those views share: who is enrolling and how a panel
is answered (the panel alone for HTMX, the whole page otherwise).
"""
from flask import abort, flash, session, url_for
from flask_login import current_user, login_required, login_user

from tfa import devices, enrollment, events, methods, reauth, sessions, settings, signin, users
from tfa.extensions import db, login_manager
from tfa.security import bp, panels
from tfa.security.forms import ActionForm, ChangePasswordForm
from tfa.web import client, is_htmx, no_store, redirect_to, render

REAUTH_KEY = "reauth_at"
MAX_ID = 2**31 - 1  # larger ids cannot exist, and would overflow the database's integer


@bp.after_request
def never_cache(response):
    # Panels show secrets, QR codes and backup codes; no cache may keep any page of this blueprint.
    return no_store(response)


def enrolling_user():
    """The user whose methods the panel views show and change: the signed-in user, or the user
    whose sign-in waits for them to set up a method (enforcement, /login/setup)."""
    if current_user.is_authenticated:
        return current_user._get_current_object()
    user = signin.setup_user(session)
    if user is None:
        abort(login_manager.unauthorized())
    return user


def in_setup() -> bool:
    """Whether the panels are answering a forced setup at sign-in rather than the security page."""
    return not current_user.is_authenticated


def panel_urls(kind: str) -> dict:
    return panels.urls_for(kind, "security.")


def kind_from(slug: str) -> str:
    """The method named in the URL, if it is turned on at platform level (404 otherwise)."""
    kind = panels.KINDS.get(slug)
    if kind is None or not settings.two_factor().method_enabled(kind):
        abort(404)
    return kind


def recently_confirmed() -> bool:
    """Whether the password was entered again within the last few minutes."""
    return reauth.is_recent(session.get(REAUTH_KEY))


def mark_confirmed() -> None:
    session[REAUTH_KEY] = reauth.now()


def _devices_context(user, s, *, listed=False):
    """The remembered-devices section; its rows are only read when it is shown (or `listed`)."""
    shown = s.remember_device_days > 0
    if not (shown or listed):
        return {"show_devices": False}
    return {"show_devices": shown, "devices": devices.list_for(user), "devices_form": ActionForm(formdata=None)}


def method_panels(user, s, panel_overrides=None, rows=None):
    """The panels of every platform-enabled method, in display order (`rows`: the user's methods
    by kind, when already loaded in this request and unchanged since)."""
    held = held_codes(user)
    rows = methods.all_of(user.id) if rows is None else rows
    pendings = enrollment.pending_by_kind(user.id)
    return [
        (panel_overrides or {}).get(kind)
        or panels.build(user, kind, s, panel_urls(kind), codes=held if kind == "backup_codes" else None,
                        rows=rows, pendings=pendings)
        for kind in s.enabled_methods
    ]


def setup_page(user, status=200, *, message=None, panel_overrides=None):
    """The forced setup at sign-in (/login/setup): the same panels, and "Continue"."""
    s = settings.two_factor()
    return no_store(render(
        "auth/setup.html", status=status, panels=method_panels(user, s, panel_overrides), message=message,
        ready=methods.has_second_factor(user.id, s), finish_form=ActionForm(),
    ))


def _page(status=200, password_form=None, panel_overrides=None, rows=None):
    user = enrolling_user()
    s = settings.two_factor()
    if in_setup():
        return setup_page(user, status, panel_overrides=panel_overrides)
    return render(
        "security/security.html",
        status=status,
        password_form=password_form or ChangePasswordForm(),
        panels=method_panels(user, s, panel_overrides, rows),
        activity=events.recent_for(user),
        **_devices_context(user, s),
    )


def respond_panel(kind, status=200, *, others=False, **values):
    """Answer a panel view: the panel for HTMX (with the panels it affects), else the page."""
    user = enrolling_user()
    s = settings.two_factor()
    if kind == "backup_codes" and "codes" not in values:
        values["codes"] = held_codes(user)
    panel = panels.build(user, kind, s, panel_urls(kind), **values)
    if not is_htmx():
        return _page(status, panel_overrides={kind: panel})
    context = {"panel": panel, "others": []}
    if others:
        # Turning one method on or off changes the others (backup codes, main method) and the lists.
        context["others"] = [
            panels.build(user, k, s, panel_urls(k), oob=True, codes=held_codes(user) if k == "backup_codes" else None)
            for k in s.enabled_methods if k != kind
        ]
        context.update(activity=events.recent_for(user), oob=True, **_devices_context(user, s))
    return render("security/_panel_update.html", status=status, **context)


def done(kind, message, *, others=True):
    """A change succeeded: the updated panel for HTMX, else a redirect to the page (PRG)."""
    if is_htmx():
        return respond_panel(kind, others=others, notice=message)
    if message:
        flash(message, "success")
    return redirect_to(url_for("auth.setup" if in_setup() else "security.security_page"))


# Backup codes are kept, encrypted, in the server-side session only until the user has saved them.
HELD_CODES_KEY = "backup_codes_to_show"
HELD_CODES_SECONDS = 15 * 60


def hold_codes(user, plain):
    session[HELD_CODES_KEY] = enrollment.seal_codes(user.id, plain)


def held_codes(user):
    plain = enrollment.unseal_codes(user.id, session.get(HELD_CODES_KEY), HELD_CODES_SECONDS)
    if plain is None and HELD_CODES_KEY in session:
        session.pop(HELD_CODES_KEY)
    return plain


def release_codes():
    session.pop(HELD_CODES_KEY, None)


@bp.get("/account/security")
@login_required
def security_page():
    # Nothing has changed yet in this request: the methods loaded with the session are current.
    loaded = session.user_methods if getattr(session, "user", None) is current_user._get_current_object() else None
    return _page(rows=loaded)


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            users.change_password(current_user, form.current_password.data, form.new_password.data, client=client(),
                                  keep_sid=session.sid)
        except users.AccountError as error:
            form[error.field or "new_password"].errors.append(str(error))
        else:
            sessions.rotate(session)
            login_user(current_user)
            mark_confirmed()
            flash("Your password was changed. Other sessions were signed out.", "success")
            return redirect_to(url_for("security.security_page"))
    if is_htmx():
        return render("security/_password_form.html", status=422, password_form=form)
    return _page(422, password_form=form)


def _devices_done(message):
    if is_htmx():
        user = current_user._get_current_object()
        return render("security/_devices.html", notice=message,
                      **_devices_context(user, settings.two_factor(), listed=True))
    flash(message, "success")
    return redirect_to(url_for("security.security_page"))


@bp.post("/account/security/devices/<int:device_id>/forget")
@login_required
def forget_device(device_id):
    if device_id > MAX_ID or not devices.forget(current_user, device_id, client=client()):
        abort(404)
    db.session.commit()
    return _devices_done("The device was forgotten. It will need the second step at the next sign-in.")


@bp.post("/account/security/devices/forget-all")
@login_required
def forget_all_devices():
    devices.forget_all(current_user, client=client())
    db.session.commit()
    return _devices_done("Every remembered device was forgotten.")
