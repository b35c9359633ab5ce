"""Backup codes on the security page: generating them, showing them once, download and print.

The plaintext codes exist only in the response that shows them and, encrypted, in the server-side
session until the user says they are saved (or a few minutes pass); then only their hashes remain.
"""
from flask import abort, flash, make_response, redirect, url_for

from tfa import enrollment, methods, settings
from tfa.enrollment import EnrollmentError
from tfa.models import BACKUP_CODES
from tfa.security import bp
from tfa.security.routes import (
    done,
    enrolling_user,
    held_codes,
    hold_codes,
    kind_from,
    recently_confirmed,
    release_codes,
    respond_panel,
)
from tfa.web import client, render

SAVE_THEM = "Save these codes now: they are shown only once."


def _backup_kind(method):
    if kind_from(method) != BACKUP_CODES:
        abort(404)
    return BACKUP_CODES


def _generate(user):
    try:
        plain = enrollment.generate_backup_codes(user, client=client(), settings=settings.two_factor())
    except EnrollmentError as error:
        return None, respond_panel(BACKUP_CODES, 422, error=str(error))
    hold_codes(user, plain)
    return plain, None


def turn_on(user):
    """The switch: the first set of codes."""
    plain, refused = _generate(user)
    if refused:
        return refused
    return done(BACKUP_CODES, f"Backup codes are on. {SAVE_THEM}")


def regenerate(user):
    """A new set; the old codes stop working."""
    plain, refused = _generate(user)
    if refused:
        return refused
    return done(BACKUP_CODES, f"New backup codes were generated and the old ones no longer work. {SAVE_THEM}",
                others=False)


@bp.post("/account/security/<method>/regenerate")
def regenerate_codes(method):
    _backup_kind(method)
    user = enrolling_user()
    if BACKUP_CODES not in methods.all_of(user.id):
        return respond_panel(BACKUP_CODES, 422, error="Backup codes are not on.")
    if not recently_confirmed():
        return respond_panel(BACKUP_CODES, state="confirm", confirm_action="regenerate")
    return regenerate(user)


@bp.post("/account/security/<method>/saved")
def confirm_codes_saved(method):
    _backup_kind(method)
    enrolling_user()
    release_codes()
    return done(BACKUP_CODES, "Keep your backup codes somewhere safe.", others=False)


def _codes_or_gone(user):
    plain = held_codes(user)
    if not plain:
        flash("The backup codes are shown only once. Get new codes if you did not save them.", "error")
    return plain


@bp.get("/account/security/<method>/backup-codes.txt")
def download_codes(method):
    _backup_kind(method)
    user = enrolling_user()
    plain = held_codes(user)
    if not plain:
        abort(404)
    response = make_response("\n".join(plain) + "\n")
    response.mimetype = "text/plain"
    response.headers["Content-Disposition"] = "attachment; filename=backup-codes.txt"
    return response


@bp.get("/account/security/<method>/print")
def print_codes(method):
    _backup_kind(method)
    user = enrolling_user()
    plain = _codes_or_gone(user)
    if not plain:
        return redirect(url_for("security.security_page"), 303)
    return render("security/backup_codes_print.html", codes=plain, user=user,
                  back_url=url_for("security.security_page"))
