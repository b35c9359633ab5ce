"""Sign-in and sign-out; the views orchestrate, tfa.signin decides."""
from flask import current_app, flash, request, session, url_for
from flask_login import current_user, login_user, logout_user

from tfa import events, sessions, signin
from tfa.auth import bp
from tfa.auth.forms import LoginForm
from tfa.extensions import db
from tfa.web import client, redirect_to, render, safe_next


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
        session.clear()
        sessions.rotate(session)
        login_user(result.user)
        signin.complete(result.user, client())
        return redirect_to(next_url or url_for("main.index"))
    status = 422 if form.errors else 200
    return render("auth/login.html", "auth/_login_form.html", status=status, form=form, next_url=next_url)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        events.record(events.SIGN_OUT, user=current_user, client=client())
        db.session.commit()
    logout_user()
    session.clear()
    flash("You have been signed out.", "info")
    sessions.rotate(session)
    return redirect_to(url_for("auth.login"))
