from flask import Blueprint

bp = Blueprint("admin", __name__)

# routes: the sysadmin guard, the navigation and the two-factor settings; delivery_views: the mail
# server and the SMS provider. Users are managed in tfa/admin/users.py.
from tfa.admin import delivery_views, routes, users  # noqa: E402,F401
