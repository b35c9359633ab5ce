"""The mail server and SMS provider pages, with their test sends (sysadmin only; the guard is in
tfa.admin.routes). Secrets go from the form to the delivery services and are never rendered back."""
from flask import flash, url_for
from flask_login import current_user

from tfa import delivery
from tfa.admin import bp
from tfa.admin.delivery_forms import MailForm, SmsForm, TestEmailForm, TestSmsForm
from tfa.delivery import DeliveryError
from tfa.delivery import mail as mail_delivery
from tfa.delivery import sms as sms_delivery
from tfa.web import client, is_htmx, no_store, redirect_to, render

TEST_EMAIL_SUBJECT = "Test email from tfa"
TEST_EMAIL_TEXT = "This is a test email from tfa: the mail server settings work."
TEST_SMS_TEXT = "This is a test message from tfa: the SMS provider settings work."


def _failure_status() -> int:
    # 502: the upstream server failed. An HTMX request gets 422 so the form with its message swaps in
    # (base.html swaps 422 but not 5xx).
    return 422 if is_htmx() else 502


# --- Mail server -------------------------------------------------------------------------------

def _mail_form(stored: mail_delivery.MailSettings) -> MailForm:
    return MailForm(data={
        "host": stored.host, "port": stored.port, "security": stored.security,
        "username": stored.username, "sender": stored.sender, "timeout": stored.timeout,
    })


def _mail_page(fragment=None, status=200, form=None, test_form=None, result=None):
    stored = mail_delivery.current_settings()
    response = render(
        "admin/mail.html", fragment, status=status,
        form=form or _mail_form(stored), test_form=test_form or TestEmailForm(formdata=None),
        stored=stored, result=result,
    )
    return no_store(response)


@bp.get("/admin/mail")
def mail_settings():
    return _mail_page()


@bp.post("/admin/mail")
def save_mail_settings():
    form = MailForm()
    if not form.validate():
        return _mail_page("admin/_mail_form.html", 422, form=form)
    mail_delivery.save_settings(form.to_settings(), password=form.password.data,
                                actor=current_user, client=client())
    flash("Settings saved", "success")
    return redirect_to(url_for("admin.mail_settings"))


@bp.post("/admin/mail/test")
def send_test_email():
    test_form = TestEmailForm()
    if not test_form.validate():
        return _mail_page("admin/_test_email_form.html", 422, test_form=test_form)
    to = test_form.recipient.data
    kept = not mail_delivery.is_configured_server()
    try:
        delivery.send_email(to, TEST_EMAIL_SUBJECT, TEST_EMAIL_TEXT)
    except DeliveryError as error:
        return _mail_page("admin/_test_email_form.html", _failure_status(), test_form=test_form,
                          result=("error", f"The test email could not be sent: {error}"))
    message = (f"No mail server is set up: the test email to {to} is in the outbox" if kept
               else f"Test email sent to {to}")
    if is_htmx():
        return _mail_page("admin/_test_email_form.html", test_form=test_form, result=("success", message))
    flash(message, "success")
    return redirect_to(url_for("admin.mail_settings"))


# --- SMS provider ------------------------------------------------------------------------------

def _sms_form(stored: sms_delivery.SmsSettings) -> SmsForm:
    data = {name: getattr(stored, name) for name in (
        "provider", "twilio_account_sid", "twilio_from_number", "sns_access_key_id", "sns_region",
        "sns_endpoint_url", "http_url", "http_method", "http_body_template")}
    if not data["provider"]:
        data["provider"] = sms_delivery.OUTBOX if sms_delivery.outbox_allowed() else sms_delivery.TWILIO
    return SmsForm(data=data)


def _sms_page(fragment=None, status=200, form=None, test_form=None, result=None):
    stored = sms_delivery.current_settings()
    response = render(
        "admin/sms.html", fragment, status=status,
        form=form or _sms_form(stored), test_form=test_form or TestSmsForm(formdata=None),
        stored=stored, provider=sms_delivery.provider_for(stored),
        outbox_allowed=sms_delivery.outbox_allowed(), provider_choices=sms_delivery.PROVIDER_CHOICES,
        result=result,
    )
    return no_store(response)


@bp.get("/admin/sms")
def sms_settings():
    return _sms_page()


@bp.post("/admin/sms")
def save_sms_settings():
    stored = sms_delivery.current_settings()
    form = SmsForm()
    if not form.check(stored, outbox_allowed=sms_delivery.outbox_allowed()):
        return _sms_page("admin/_sms_form.html", 422, form=form)
    sms_delivery.save_settings(form.to_settings(stored), secrets=form.secrets(),
                               clear=form.secrets_to_clear(), actor=current_user, client=client())
    flash("Settings saved", "success")
    return redirect_to(url_for("admin.sms_settings"))


@bp.post("/admin/sms/test")
def send_test_sms():
    test_form = TestSmsForm()
    if not test_form.validate():
        return _sms_page("admin/_test_sms_form.html", 422, test_form=test_form)
    phone = test_form.phone.data
    provider = sms_delivery.configured_provider()
    kept = provider is None or provider.name == "Outbox"
    try:
        delivery.send_sms(phone, TEST_SMS_TEXT)
    except DeliveryError as error:
        return _sms_page("admin/_test_sms_form.html", _failure_status(), test_form=test_form,
                         result=("error", f"The test SMS could not be sent: {error}"))
    message = f"The test SMS to {phone} is in the outbox" if kept else f"Test SMS sent to {phone}"
    if is_htmx():
        return _sms_page("admin/_test_sms_form.html", test_form=test_form, result=("success", message))
    flash(message, "success")
    return redirect_to(url_for("admin.sms_settings"))
