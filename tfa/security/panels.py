"""The method panels of the security page, as data for templates/security/_method_<kind>.html.

A panel knows nothing of the page it sits on: its form URLs come in `urls` (see urls_for), so the
same templates serve the security page and the forced setup at sign-in.
"""
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, url_for

from tfa import enrollment, methods
from tfa.models import BACKUP_CODES, EMAIL, METHOD_LABELS, SMS, TOTP
from tfa.security.forms import CodeForm, ConfirmPasswordForm, EmailForm, PhoneForm, SwitchForm

# URL segments (kebab-case) of each method, and back.
SLUGS = {TOTP: "authenticator-app", SMS: "sms", EMAIL: "email", BACKUP_CODES: "backup-codes"}
KINDS = {slug: kind for kind, slug in SLUGS.items()}
# The view names a blueprint may provide for panels; each takes the URL argument `method`.
PANEL_VIEWS = (
    "switch_method", "send_code", "resend_code", "verify_code", "cancel_setup", "change_destination",
    "use_as_main", "confirm_password", "show_panel", "regenerate_codes", "confirm_codes_saved",
    "download_codes", "print_codes",
)
# What each password confirmation is for, in words.
REAUTH_PURPOSES = {
    "disable": "turn off {label}",
    "change": "change where {label} codes are sent",
    "regenerate": "get new backup codes",
}

OFF = "off"
SETUP = "setup"
ON = "on"
CONFIRM = "confirm"  # the password is asked again before the change
CODES = "codes"  # backup codes just generated, shown once


@dataclass
class Panel:
    kind: str
    urls: dict
    state: str = OFF
    method: Any = None
    pending: Any = None
    switch_form: Any = None
    destination_form: Any = None
    code_form: Any = None
    confirm_form: Any = None
    totp: Any = None
    resend_in: int = 0
    is_main: bool = False
    can_choose_main: bool = False
    available: bool = True
    remaining: int = 0
    codes: list = field(default_factory=list)
    notice: str | None = None
    error: str | None = None
    confirm_action: str | None = None
    oob: bool = False

    @property
    def label(self):
        return METHOD_LABELS[self.kind]

    @property
    def slug(self):
        return SLUGS[self.kind]

    @property
    def dom_id(self):
        return f"method-{self.slug}"

    @property
    def template(self):
        return f"security/_method_{self.kind}.html"

    @property
    def switched_on(self):
        return self.state in (SETUP, ON, CODES) or (self.state == CONFIRM and self.method is not None)

    @property
    def changing(self):
        """An SMS or email method that is on, being moved to another destination."""
        return self.state == SETUP and self.method is not None

    @property
    def confirm_purpose(self):
        return REAUTH_PURPOSES.get(self.confirm_action, "continue").format(label=self.label)


def urls_for(kind: str, prefix: str = "security.") -> dict:
    """The URLs of the panel views that the blueprint named by `prefix` provides."""
    views = current_app.view_functions
    urls = {name: url_for(prefix + name, method=SLUGS[kind]) for name in PANEL_VIEWS if prefix + name in views}
    if prefix + "security_page" in views:
        urls["page"] = url_for(prefix + "security_page")
    return urls


def _with_ids(form, slug):
    # Several panels share field names; ids (and so labels) stay unique on the page.
    for f in form:
        f.id = f"{slug}-{f.name}"
    return form


def build(user, kind: str, settings, urls: dict, *, state=None, codes=None, forms=None, rows=None, pendings=None,
          **values) -> Panel:
    """The panel of one method for this user; `state`, `forms` and `values` override what is stored.

    `rows` (the user's methods by kind) and `pendings` (their live enrollments by kind) are loaded
    here unless a page that builds several panels passes them.
    """
    forms = forms or {}
    rows = methods.all_of(user.id) if rows is None else rows
    method = rows.get(kind)
    if kind == BACKUP_CODES:
        pending = None
    else:
        pending = enrollment.pending_for(user.id, kind) if pendings is None else pendings.get(kind)
    if state is None:
        if kind == BACKUP_CODES and codes:
            state = CODES
        elif pending is not None:
            state = SETUP
        else:
            state = ON if method is not None else OFF
    panel = Panel(kind=kind, urls=urls, state=state, method=method, pending=pending, codes=codes or [], **values)
    slug = panel.slug
    panel.switch_form = _with_ids(forms.get("switch") or SwitchForm(formdata=None), slug)
    panel.switch_form.enabled.label.text = f"Enable {panel.label}"
    panel.switch_form.enabled.data = panel.switched_on
    panel.code_form = _with_ids(forms.get("code") or CodeForm(formdata=None), slug)
    panel.confirm_form = _with_ids(forms.get("confirm") or ConfirmPasswordForm(formdata=None), slug)
    if panel.state == CONFIRM and panel.confirm_action:
        panel.confirm_form.action.data = panel.confirm_action
    if kind in (SMS, EMAIL):
        form_class = PhoneForm if kind == SMS else EmailForm
        destination_form = forms.get("destination") or form_class(formdata=None)
        if not destination_form.destination.data:
            current = (pending.destination if pending else None) or (method.destination if method else None)
            destination_form.destination.data = current or (user.email if kind == EMAIL else "")
        panel.destination_form = _with_ids(destination_form, slug)
        panel.resend_in = enrollment.seconds_until_resend(pending, settings)
    if kind == TOTP and panel.state == SETUP:
        panel.totp = enrollment.totp_setup(pending, user, settings)
    if kind == BACKUP_CODES:
        panel.available = enrollment.backup_codes_available(user.id, settings)
        panel.remaining = enrollment.remaining_backup_codes(user.id) if method is not None else 0
    elif method is not None:
        main = methods.main_of(rows, settings)
        panel.is_main = main is not None and main.kind == kind
        panel.can_choose_main = enrollment.can_choose_main(user.id, settings, rows)
    return panel
