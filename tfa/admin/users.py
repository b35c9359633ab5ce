"""/admin/users: list, create, disable/enable, unlock, reset two-factor authentication."""
from flask import abort, flash, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from tfa import users
from tfa.admin import bp
from tfa.extensions import db
from tfa.models import METHOD_ORDER, ROLE_SYSADMIN, ROLE_USER, User
from tfa.web import client, redirect_to, render


class CreateUserForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter an email"), Length(max=254)])
    name = StringField("Name", validators=[Length(max=100)])
    role = SelectField("Role", choices=[(ROLE_USER, "User"), (ROLE_SYSADMIN, "System administrator")],
                       validate_choice=True)
    password = PasswordField("Initial password", validators=[DataRequired("Enter a password"), Length(max=256)])


class UserActionForm(FlaskForm):
    pass


def _page(form=None, status=200):
    without_2fa = request.args.get("filter") == "without-2fa"
    page = request.args.get("page", "1")
    page = int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1
    rows, has_more = users.list_for_admin(without_2fa=without_2fa, page=page)
    response = render(
        "admin/users.html", status=status, rows=rows, has_more=has_more, page_number=page, without_2fa=without_2fa,
        form=form or CreateUserForm(), action_form=UserActionForm(), method_order=METHOD_ORDER,
    )
    return response


@bp.get("/admin/users")
def users_page():
    return _page()


@bp.post("/admin/users")
def create_user():
    form = CreateUserForm()
    if form.validate_on_submit():
        try:
            user = users.create_user(form.email.data, form.password.data, name=form.name.data,
                                     role=form.role.data, actor=current_user, client=client())
        except users.AccountError as error:
            field = form.password if "assword" in str(error) else form.email
            field.errors.append(str(error))
        else:
            flash(f"User {user.email} was created.", "success")
            return redirect_to(url_for("admin.users_page"))
    return _page(form, status=422)


def _target(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if not UserActionForm().validate_on_submit():
        abort(400)
    return user


def _act(user_id, action, done_message):
    """Run an admin action on a user (POST with CSRF), flash the outcome, back to the list."""
    user = _target(user_id)
    try:
        action(user, actor=current_user, client=client())
    except users.AccountError as error:
        flash(str(error), "error")
    else:
        flash(done_message.format(email=user.email), "success")
    return redirect_to(url_for("admin.users_page"))


@bp.post("/admin/users/<int:user_id>/disable")
def disable_user(user_id):
    return _act(user_id, lambda u, **kw: users.set_enabled(u, False, **kw), "{email} was disabled.")


@bp.post("/admin/users/<int:user_id>/enable")
def enable_user(user_id):
    return _act(user_id, lambda u, **kw: users.set_enabled(u, True, **kw), "{email} was enabled.")


@bp.post("/admin/users/<int:user_id>/unlock")
def unlock_user(user_id):
    return _act(user_id, users.unlock, "{email} was unlocked.")


@bp.post("/admin/users/<int:user_id>/reset-2fa")
def reset_two_factor(user_id):
    return _act(user_id, users.reset_two_factor, "Two-factor authentication of {email} was reset.")
