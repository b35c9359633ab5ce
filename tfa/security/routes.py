"""The security page: password, two-factor methods, remembered devices, recent activity."""
from flask import flash, session, url_for
from flask_login import current_user, login_required, login_user

from tfa import events, sessions, users
from tfa.security import bp
from tfa.security.forms import ChangePasswordForm
from tfa.web import client, redirect_to, render


def _page(status=200, password_form=None):
    return render(
        "security/security.html",
        status=status,
        password_form=password_form or ChangePasswordForm(),
        activity=events.recent_for(current_user),
    )


@bp.get("/account/security")
@login_required
def security_page():
    return _page()


@bp.post("/account/password")
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            users.change_password(current_user, form.current_password.data, form.new_password.data, client=client())
        except users.AccountError as error:
            form[error.field or "new_password"].errors.append(str(error))
        else:
            sessions.end_sessions_of(current_user.id, keep_sid=session.sid)
            sessions.rotate(session)
            login_user(current_user)
            flash("Your password was changed. Other sessions were signed out.", "success")
            return redirect_to(url_for("security.security_page"))
    return render("security/security.html", "security/_password_form.html", status=422,
                  password_form=form, activity=events.recent_for(current_user))
