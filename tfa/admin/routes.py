"""Administration pages (sysadmin only): the guard, the navigation, the two-factor settings."""
from flask import abort, current_app, flash, url_for
from flask_login import current_user, login_required

from tfa import delivery, settings
from tfa.admin import bp
from tfa.admin.forms import TwoFactorForm
from tfa.web import client, redirect_to, render

# The admin sub-navigation: (label, endpoint); entries whose view is not registered are left out.
NAVIGATION = (
    ("Two-factor authentication", "admin.two_factor_settings"),
    ("Mail server", "admin.mail_settings"),
    ("SMS provider", "admin.sms_settings"),
    ("Users", "admin.users_page"),
)


@bp.before_request
@login_required
def require_sysadmin():
    if not current_user.is_admin:
        abort(403)


@bp.context_processor
def admin_navigation():
    links = [(label, url_for(endpoint), endpoint)
             for label, endpoint in NAVIGATION if endpoint in current_app.view_functions]
    return {"admin_navigation": links}


@bp.get("/admin")
def admin_index():
    return redirect_to(url_for("admin.two_factor_settings"))


def _two_factor_page(form, status=200):
    return render("admin/two_factor.html", "admin/_two_factor_form.html", status=status, form=form,
                  mail_configured=delivery.mail_configured(), sms_configured=delivery.sms_configured())


@bp.get("/admin/two-factor")
def two_factor_settings():
    return _two_factor_page(TwoFactorForm(data=settings.two_factor().as_dict()))


@bp.post("/admin/two-factor")
def save_two_factor_settings():
    form = TwoFactorForm()
    form.validate()
    # Rules across fields are checked too, so every message shows at once.
    errors = settings.validate(form.to_settings(), mail_configured=delivery.mail_configured(),
                               sms_configured=delivery.sms_configured())
    if not form.errors:
        errors = settings.save_two_factor(
            form.to_settings(), actor=current_user, client=client(),
            mail_configured=delivery.mail_configured(), sms_configured=delivery.sms_configured(),
        )
        if not errors:
            flash("Settings saved", "success")
            return redirect_to(url_for("admin.two_factor_settings"))
    for name, message in errors.items():
        if not form[name].errors:
            form[name].errors = [*form[name].errors, message]
    return _two_factor_page(form, status=422)
