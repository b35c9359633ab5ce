from flask import Blueprint

bp = Blueprint("auth", __name__)

from tfa.auth import routes  # noqa: E402,F401
