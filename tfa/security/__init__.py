from flask import Blueprint

bp = Blueprint("security", __name__)

from tfa.security import routes, backup, two_factor  # noqa: E402,F401
