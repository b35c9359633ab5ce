"""Backup codes and remembered devices on the security page; secrets and codes at rest."""
import re
from datetime import timedelta

import pyotp
import pytest
from freezegun import freeze_time
from sqlalchemy import select, text as sql

from tests.conftest import csrf_token, gen_user, sign_in
from tests.factories import enable_platform, gen_totp
from tests.test_security_methods import HX, PAGE, confirm_password_for, events_of, kinds_of, post, shown_key, text
from tfa import devices, methods
from tfa.events import Client
from tfa.extensions import db
from tfa.methods import backup_codes
from tfa.models import BACKUP_CODES, OutboxMessage, RememberedDevice
from tfa.types import utcnow

CODE_RE = re.compile(r"<li><code>([0-9a-f]{8})</code></li>")


@pytest.fixture
def signed_in_with_totp(client, user):
    enable_platform(backup_codes_count=8)
    sign_in(client, user.email)
    gen_totp(user)
    return user


def shown_codes(html):
    return CODE_RE.findall(html)


def test_backup_codes_are_shown_once_with_download_print_and_copy(client, signed_in_with_totp):
    user = signed_in_with_totp
    assert "Enable Backup codes" in text(client.get(PAGE))
    assert post(client, "/backup-codes/switch", {"enabled": "on"}).status_code == 303
    html = text(client.get(PAGE))
    codes = shown_codes(html)
    assert len(codes) == 8 and len(set(codes)) == 8
    assert "Download (txt)" in html and ">Print</a>" in html and ">Copy</button>" in html
    assert ">I have saved these codes</button>" in html
    assert BACKUP_CODES in kinds_of(user) and backup_codes.remaining(user.id) == 8

    download = client.get(PAGE + "/backup-codes/backup-codes.txt")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"] == "attachment; filename=backup-codes.txt"
    assert download.headers["Cache-Control"] == "no-store"
    assert download.mimetype == "text/plain"
    assert download.get_data(as_text=True).splitlines() == codes

    printed = client.get(PAGE + "/backup-codes/print")
    assert printed.status_code == 200 and printed.headers["Cache-Control"] == "no-store"
    assert shown_codes(text(printed)) == codes and "data-print" in text(printed)

    assert post(client, "/backup-codes/saved").status_code == 303
    html = text(client.get(PAGE))
    assert shown_codes(html) == []
    assert "8 codes remaining" in html and ">Get new codes</button>" in html
    assert client.get(PAGE + "/backup-codes/backup-codes.txt").status_code == 404
    assert client.get(PAGE + "/backup-codes/print").status_code == 303
    assert "shown only once" in text(client.get(PAGE))

    # Each code works once; the page counts what remains.
    assert backup_codes.use(user.id, codes[0]) and not backup_codes.use(user.id, codes[0])
    db.session.commit()
    assert "7 codes remaining" in text(client.get(PAGE))


def test_get_new_codes_needs_the_password_and_invalidates_the_old_set(client, signed_in_with_totp):
    user = signed_in_with_totp
    post(client, "/backup-codes/switch", {"enabled": "on"})
    old = shown_codes(text(client.get(PAGE)))
    post(client, "/backup-codes/saved")

    response = post(client, "/backup-codes/regenerate")
    assert response.status_code == 200 and "Confirm your password" in text(response)
    assert "get new backup codes" in text(response)
    assert shown_codes(text(response)) == []
    response = confirm_password_for(client, "backup-codes", "regenerate")
    assert response.status_code == 303
    new = shown_codes(text(client.get(PAGE)))
    assert len(new) == 8 and not set(new) & set(old)
    assert not backup_codes.use(user.id, old[0])
    assert backup_codes.use(user.id, new[0])
    assert len(events_of(user, "backup_codes_generated")) == 2
    # The user is told by email (the development outbox stands in for the mail server).
    subjects = db.session.scalars(select(OutboxMessage.subject).where(OutboxMessage.recipient == user.email)).all()
    assert "New backup codes were generated" in subjects


def test_backup_codes_need_another_method(client, user):
    enable_platform()
    sign_in(client, user.email)
    html = text(client.get(PAGE))
    assert "Enable Backup codes" not in html
    response = post(client, "/backup-codes/switch", {"enabled": "on"})
    assert response.status_code == 422
    assert "Backup codes need another method" in text(response)
    assert kinds_of(user) == set() and backup_codes.remaining(user.id) == 0


def test_held_codes_are_forgotten_after_a_while(client, signed_in_with_totp):
    post(client, "/backup-codes/switch", {"enabled": "on"})
    assert client.get(PAGE + "/backup-codes/backup-codes.txt").status_code == 200
    with freeze_time(utcnow() + timedelta(minutes=16)):
        assert client.get(PAGE + "/backup-codes/backup-codes.txt").status_code == 404
        html = text(client.get(PAGE))
    assert shown_codes(html) == [] and "8 codes remaining" in html


def test_another_user_cannot_get_the_codes(app, client, signed_in_with_totp):
    post(client, "/backup-codes/switch", {"enabled": "on"})
    codes = shown_codes(text(client.get(PAGE)))
    other = gen_user()
    other_client = app.test_client()
    sign_in(other_client, other.email)
    assert other_client.get(PAGE + "/backup-codes/backup-codes.txt").status_code == 404
    assert not set(codes) & set(shown_codes(text(other_client.get(PAGE))))
    assert post(other_client, "/backup-codes/regenerate").status_code == 422
    assert backup_codes.remaining(signed_in_with_totp.id) == 8


def test_backup_codes_never_become_the_main_method(client, signed_in_with_totp):
    post(client, "/backup-codes/switch", {"enabled": "on"})
    assert not methods.all_of(signed_in_with_totp.id)[BACKUP_CODES].is_main
    assert "Use as main method" not in text(client.get(PAGE))


def test_htmx_backup_codes_panel(client, signed_in_with_totp):
    response = post(client, "/backup-codes/switch", {"enabled": "on"}, headers=HX)
    html = text(response)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert html.lstrip().startswith('<section id="method-backup-codes"')
    assert len(shown_codes(html)) == 8
    response = post(client, "/backup-codes/saved", headers=HX)
    assert "8 codes remaining" in text(response) and shown_codes(text(response)) == []


# --- Remembered devices ----------------------------------------------------------------------------

def remember(user, ua="Firefox on Linux", ip="192.0.2.7"):
    devices.remember(user, 30, client=Client(ip=ip, user_agent=ua))
    db.session.commit()
    return db.session.scalars(select(RememberedDevice.id).where(RememberedDevice.user_id == user.id)
                              .order_by(RememberedDevice.id.desc())).first()


def test_remembered_devices_section_only_when_remembering_is_on(client, user):
    enable_platform(remember_device_days=0)
    sign_in(client, user.email)
    assert "Remembered devices" not in text(client.get(PAGE))
    enable_platform(remember_device_days=30)
    html = text(client.get(PAGE))
    assert "Remembered devices" in html and "No device is remembered." in html


def test_forget_one_device_and_all(client, user):
    enable_platform(remember_device_days=30)
    sign_in(client, user.email)
    first = remember(user, "Firefox on Linux")
    second = remember(user, "Safari on iPhone")
    third = remember(user, "Chrome on Windows")
    html = text(client.get(PAGE))
    assert "Firefox on Linux" in html and "Safari on iPhone" in html and "192.0.2.7" in html
    assert html.count(">Forget</button>") == 3 and ">Forget all</button>" in html

    assert post(client, f"/devices/{first}/forget").status_code == 303
    html = text(client.get(PAGE))
    assert "Firefox on Linux" not in html and "Safari on iPhone" in html
    assert events_of(user, "device_forgotten")

    response = post(client, f"/devices/{second}/forget", headers=HX)
    assert response.status_code == 200 and "Safari on iPhone" not in text(response)
    assert "<html" not in text(response)

    assert post(client, "/devices/forget-all").status_code == 303
    assert db.session.get(RememberedDevice, third) is None
    assert "No device is remembered." in text(client.get(PAGE))


def test_a_user_cannot_forget_another_users_device(app, client, user):
    enable_platform(remember_device_days=30)
    sign_in(client, user.email)
    other = gen_user()
    device = remember(other, "Other browser")
    assert "Other browser" not in text(client.get(PAGE))
    assert post(client, f"/devices/{device}/forget").status_code == 404
    assert post(client, "/devices/forget-all").status_code == 303
    assert db.session.get(RememberedDevice, device) is not None
    assert post(client, "/devices/not-a-number/forget").status_code == 404
    assert post(client, f"/devices/{10**30}/forget").status_code == 404


# --- Secrets and codes at rest -----------------------------------------------------------------------

def raw_database_text():
    """Every row of every table, read with plain SQL, as one string."""
    parts = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(sql(f'SELECT * FROM "{table.name}"')):
            for value in row:
                if isinstance(value, (bytes, memoryview)):
                    value = bytes(value).decode("latin-1")
                parts.append(str(value))
    return "\n".join(parts)


def test_secrets_and_codes_are_not_readable_in_the_database(app, client, user, smtp_server):
    app.config.update(MAIL_SERVER=smtp_server.host, MAIL_PORT=smtp_server.port, MAIL_DEFAULT_SENDER="tfa@example.com")
    enable_platform()
    sign_in(client, user.email)

    post(client, "/authenticator-app/switch", {"enabled": "on"})
    key = shown_key(text(client.get(PAGE)))
    dump = raw_database_text()
    assert key not in dump and key.lower() not in dump
    post(client, "/authenticator-app/verify", {"code": pyotp.TOTP(key).now()})
    assert "totp" in kinds_of(user)
    assert key not in raw_database_text()

    post(client, "/email/switch", {"enabled": "on"})
    post(client, "/email/send", {"destination": user.email})
    code = re.search(r"\b(\d{6})\b", smtp_server.last_to(user.email).text).group(1)
    assert code not in raw_database_text()

    post(client, "/backup-codes/switch", {"enabled": "on"})
    codes = shown_codes(text(client.get(PAGE)))
    assert len(codes) == 10
    dump = raw_database_text()  # the codes are held for showing, encrypted in the session row
    assert not [c for c in codes if c in dump]


def test_the_secret_is_never_in_a_form_field_or_url(client, user):
    enable_platform()
    sign_in(client, user.email)
    response = post(client, "/authenticator-app/switch", {"enabled": "on"}, headers=HX)
    html = text(response)
    key = shown_key(html)
    for attribute in re.findall(r'(?:value|href|action|hx-post|hx-get|src|data-copy)="([^"]*)"', html):
        assert key not in attribute.replace(" ", "") and key not in attribute
    assert "otpauth://" not in html  # only as the QR image
    page = text(client.get(PAGE))
    for attribute in re.findall(r'(?:value|href|action|hx-post|hx-get|src)="([^"]*)"', page):
        assert key not in attribute
    assert csrf_token(page)
