"""Bad input of any kind gets a 4xx, never a 500: every route, as a user and as an admin."""
import pytest

from tests.conftest import csrf_token, sign_in
from tests.factories import enable_platform

GARBAGE = [
    {},
    {"code": "١٢٣٤٥٦", "email": "x" * 3000, "password": "\u202e\ufeff", "method": "../../etc", "enabled": "maybe"},
    {"code": "1" * 100000, "phone": "+" + "9" * 40, "destination": "💥", "port": "-1", "timeout": "1e309",
     "backup_codes_count": "99999999999999999999", "enforce_for": "everyone", "provider": "carrier-pigeon"},
]


def _urls(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        args = {name: ("sms" if name == "method" else 2147483647) for name in rule.arguments}
        url = rule.rule
        for name, value in args.items():
            url = url.replace(f"<int:{name}>", str(value)).replace(f"<{name}>", str(value))
        yield url, rule.methods


@pytest.mark.parametrize("role", ["user", "admin"])
def test_garbage_never_gives_a_500(app, user, admin, role):
    enable_platform()
    client = app.test_client()
    account = admin if role == "admin" else user
    assert sign_in(client, account.email).status_code == 303
    token = csrf_token(client.get("/account/security"))
    for url, allowed in _urls(app):
        if url == "/logout":
            continue
        if "GET" in allowed:
            response = client.get(url, headers={"HX-Request": "true"})
            assert response.status_code < 500, ("GET", url, response.status_code)
        if "POST" in allowed:
            for data in GARBAGE:
                for headers in ({}, {"HX-Request": "true", "HX-Target": "<script>", "X-CSRFToken": token}):
                    response = client.post(url, data={"csrf_token": token, **data}, headers=headers)
                    assert response.status_code < 500, ("POST", url, data.keys(), response.status_code)
    # Still signed in: the garbage was refused, not half-applied to the session.
    assert client.get("/account/security").status_code == 200


@pytest.mark.parametrize("stage", ["verify", "setup"])
def test_garbage_while_pending_never_gives_a_500(app, user, stage):
    from tests.factories import gen_totp

    enable_platform(enforce_enabled=True)
    if stage == "verify":
        gen_totp(user)
    client = app.test_client()
    assert sign_in(client, user.email).headers["Location"] == f"/login/{stage}"
    token = csrf_token(client.get(f"/login/{stage}"))
    for url, allowed in _urls(app):
        if url == "/logout" or not (url.startswith("/login") or url.startswith("/account/security/")):
            continue
        if "GET" in allowed:
            assert client.get(url, headers={"HX-Request": "true"}).status_code < 500, url
        if "POST" in allowed:
            for data in GARBAGE:
                response = client.post(url, data={"csrf_token": token, **data})
                assert response.status_code < 500, ("POST", url, response.status_code)
