"""Administration pages (sysadmin only)."""
from functools import wraps

from flask import abort, url_for
from flask_login import current_user, login_required

from tfa.admin import bp
from tfa.web import redirect_to


@bp.before_request
@login_required
def require_sysadmin():
    if not current_user.is_admin:
        abort(403)


@bp.get("/admin")
def admin_index():
    return redirect_to(url_for("admin.two_factor_settings"))


@bp.get("/admin/two-factor")
def two_factor_settings():
    return "Two-factor authentication"
