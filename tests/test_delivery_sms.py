"""SMS delivery through real local servers: an HTTP gateway, a Twilio-shaped endpoint driven by the
official client, AWS SNS on moto, and the outbox; and every way they fail, as "Send test SMS" shows it."""
import base64
import html
import json
import re
import socket
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import csrf_token, post_form, sign_in
from tfa import delivery
from tfa.delivery import DeliveryError, sms
from tfa.delivery.messages import verification_sms
from tfa.delivery.sms import http_gateway

PHONE = "+14155552671"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-value"
TEST_TEXT = "This is a test message from tfa: the SMS provider settings work."


# --- A local HTTP server that records what it gets ---------------------------------------------

@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class HttpServer:
    url: str = ""
    requests: list = field(default_factory=list)
    status: int = 200
    body: bytes = b'{"ok": true}'
    content_type: str = "application/json"
    delay: float = 0.0


@pytest.fixture
def http_server():
    """An HTTP server in a thread: answers `status` with `body` after `delay`, keeps every request."""
    state = HttpServer()

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(Received(self.command, self.path, dict(self.headers), self.rfile.read(length)))
            if state.delay:
                time.sleep(state.delay)
            try:
                self.send_response(state.status)
                self.send_header("Content-Type", state.content_type)
                self.send_header("Content-Length", str(len(state.body)))
                self.end_headers()
                self.wfile.write(state.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        do_GET = do_POST = do_PUT = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def admin_client(client, admin):
    sign_in(client, admin.email)
    return client


def configure_sms(client, **form):
    response = post_form(client, "/admin/sms", form)
    assert response.status_code == 303, response.get_data(as_text=True)


def send_test_sms(client, phone=PHONE, htmx=False):
    if htmx:
        token = csrf_token(client.get("/admin/sms"))
        return client.post("/admin/sms/test", data={"phone": phone},
                           headers={"HX-Request": "true", "X-CSRFToken": token})
    return post_form(client, "/admin/sms/test", {"phone": phone}, page_url="/admin/sms")


def shown_error(response):
    match = re.search(r'<p class="flash flash-error" role="alert">([^<]*)</p>', response.get_data(as_text=True))
    return html.unescape(match.group(1)) if match else None


def gateway(client, url, method="POST", headers="", body='{"to": "${phone}", "text": "${message}"}'):
    configure_sms(client, provider="http", http_url=url, http_method=method, http_headers=headers,
                  http_body_template=body)


# --- HTTP gateway ------------------------------------------------------------------------------

def test_http_gateway_posts_the_rendered_json_body_with_the_headers(admin_client, http_server):
    gateway(admin_client, http_server.url + "/send", headers="Authorization: Bearer gw-secret\nX-Account: 42")
    response = send_test_sms(admin_client)
    assert response.status_code == 303
    assert f"Test SMS sent to {PHONE}" in admin_client.get("/admin/sms").get_data(as_text=True)
    [received] = http_server.requests
    assert received.method == "POST" and received.path == "/send"
    assert received.headers["Authorization"] == "Bearer gw-secret"
    assert received.headers["X-Account"] == "42"
    assert received.headers["Content-Type"] == "application/json"
    assert json.loads(received.body) == {"to": PHONE, "text": TEST_TEXT}


def test_http_gateway_json_escapes_the_values(app, http_server):
    settings = sms.SmsSettings(provider="http", http_url=http_server.url, http_method="PUT",
                               http_body_template='{"to": "${phone}", "text": "${message}"}')
    text = 'Code "123456"\nfor ${phone} \\ done'
    sms.provider_for(settings).send(PHONE, text)
    received = http_server.requests[-1]
    assert received.method == "PUT"
    assert json.loads(received.body) == {"to": PHONE, "text": text}


def test_http_gateway_form_encodes_a_form_body(admin_client, http_server):
    gateway(admin_client, http_server.url + "/sms", body="to=${phone}&text=${message}&from=tfa")
    assert send_test_sms(admin_client).status_code == 303
    received = http_server.requests[-1]
    assert received.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(received.body.decode()) == {"to": [PHONE], "text": [TEST_TEXT], "from": ["tfa"]}


def test_http_gateway_get_takes_the_values_in_the_url(admin_client, http_server):
    gateway(admin_client, http_server.url + "/send?to=${phone}&text=${message}", method="GET", body="")
    assert send_test_sms(admin_client).status_code == 303
    received = http_server.requests[-1]
    assert received.method == "GET" and received.body == b""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(received.path).query)
    assert query == {"to": [PHONE], "text": [TEST_TEXT]}


def test_a_content_type_header_wins(app, http_server):
    settings = sms.SmsSettings(provider="http", http_url=http_server.url, http_body_template="${phone} ${message}",
                               http_headers_encrypted=_encrypt("Content-Type: text/plain"))
    sms.provider_for(settings).send(PHONE, "hi")
    assert http_server.requests[-1].headers["Content-Type"] == "text/plain"


def _encrypt(value):
    from tfa import crypto

    return crypto.encrypt(value).decode()


@pytest.mark.parametrize("status, message", [
    (400, "The SMS gateway refused the message (HTTP 400)"),
    (401, "The SMS gateway did not accept the credentials (HTTP 401)"),
    (404, "The SMS gateway refused the message (HTTP 404)"),
    (302, "The SMS gateway refused the message (HTTP 302)"),
    (500, "The SMS gateway is not available right now (HTTP 500)"),
    (503, "The SMS gateway is not available right now (HTTP 503)"),
])
def test_http_gateway_error_answers_are_clear_messages(admin_client, http_server, status, message):
    http_server.status = status
    gateway(admin_client, http_server.url)
    response = send_test_sms(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == f"The test SMS could not be sent: {message}"
    assert admin_client.get("/admin/sms").status_code == 200


def test_http_gateway_connection_refused(admin_client, closed_url):
    gateway(admin_client, closed_url)
    response = send_test_sms(admin_client, htmx=True)
    assert response.status_code == 422
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<form id="test-sms-form"')
    assert shown_error(response) == "The test SMS could not be sent: The SMS gateway refused the connection"


@pytest.mark.config(SMS_TIMEOUT=0.5)
def test_http_gateway_timeout(admin_client, http_server):
    http_server.delay = 2
    gateway(admin_client, http_server.url)
    started = time.monotonic()
    response = send_test_sms(admin_client)
    assert time.monotonic() - started < 1.9
    assert response.status_code == 502
    assert shown_error(response) == "The test SMS could not be sent: The SMS gateway did not answer in time"


def test_substitution_is_plain_replacement():
    body = http_gateway.render_body("to=${phone}&m=${message}&x={{ 7*7 }}{0}", "+1 2", "a ${phone} {code}")
    assert urllib.parse.parse_qs(body) == {"to": ["+1 2"], "m": ["a ${phone} {code}"], "x": ["{{ 7*7 }}{0}"]}
    assert http_gateway.render_body('["${message}"]', PHONE, '"x"') == '["\\"x\\""]'


# --- Twilio (the official client against a local endpoint) -------------------------------------

def twilio(client, app, server):
    app.config["TWILIO_API_URL"] = server.url
    configure_sms(client, provider="twilio", twilio_account_sid=SID, twilio_auth_token=TOKEN,
                  twilio_from_number="+12025550143")


def test_twilio_sends_the_messages_request(app, admin_client, http_server):
    http_server.status = 201
    http_server.body = json.dumps({"sid": "SM" + "0" * 32, "status": "queued", "to": PHONE}).encode()
    twilio(admin_client, app, http_server)
    response = send_test_sms(admin_client)
    assert response.status_code == 303
    [received] = http_server.requests
    assert received.method == "POST"
    assert received.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    scheme, _, credentials = received.headers["Authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(credentials).decode() == f"{SID}:{TOKEN}"
    assert urllib.parse.parse_qs(received.body.decode()) == {
        "To": [PHONE], "From": ["+12025550143"], "Body": [TEST_TEXT],
    }


@pytest.mark.parametrize("status, message", [
    (401, "Twilio did not accept the account SID or auth token"),
    (400, "Twilio refused the message (HTTP 400, error 21211)"),
    (429, "Twilio is limiting requests: try again in a moment"),
    (500, "Twilio is not available right now (HTTP 500)"),
])
def test_twilio_errors_are_clear_messages(app, admin_client, http_server, status, message):
    http_server.status = status
    http_server.body = json.dumps({"code": 21211 if status == 400 else 20003, "message": "nope",
                                   "status": status}).encode()
    twilio(admin_client, app, http_server)
    response = send_test_sms(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == f"The test SMS could not be sent: {message}"


def test_twilio_connection_refused(app, admin_client, closed_url):
    twilio(admin_client, app, HttpServer(url=closed_url))
    response = send_test_sms(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == "The test SMS could not be sent: Twilio refused the connection"


@pytest.mark.config(SMS_TIMEOUT=0.5)
def test_twilio_timeout(app, admin_client, http_server):
    http_server.delay = 2
    twilio(admin_client, app, http_server)
    response = send_test_sms(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == "The test SMS could not be sent: Twilio did not answer in time"


# --- AWS SNS on moto ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def moto_url():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def sns_endpoint(moto_url):
    urllib.request.urlopen(urllib.request.Request(f"{moto_url}/moto-api/reset", method="POST")).close()
    return moto_url


def sns_messages(moto_url):
    with urllib.request.urlopen(f"{moto_url}/moto-api/data.json") as response:
        return json.load(response)["sns"]["SMS"]


def aws(client, endpoint):
    configure_sms(client, provider="sns", sns_access_key_id="AKIAIOSFODNN7EXAMPLE",
                  sns_secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sns_region="eu-west-1",
                  sns_endpoint_url=endpoint)


def test_sns_publishes_the_sms(admin_client, sns_endpoint):
    aws(admin_client, sns_endpoint)
    response = send_test_sms(admin_client)
    assert response.status_code == 303
    [message] = sns_messages(sns_endpoint)
    assert message["phone_number"] == PHONE and message["message"] == TEST_TEXT


def test_send_sms_goes_through_the_configured_provider(admin_client, sns_endpoint):
    aws(admin_client, sns_endpoint)
    delivery.send_sms(PHONE, verification_sms("Code: ${code} for ${userEmail}", "123456", "jo@example.com"))
    assert sns_messages(sns_endpoint)[-1]["message"] == "Code: 123456 for jo@example.com"
    assert "123456" not in admin_client.get("/dev/outbox").get_data(as_text=True)


def test_sns_bad_credentials(admin_client, http_server):
    http_server.status = 403
    http_server.content_type = "text/xml"
    http_server.body = (b'<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code>'
                        b'<Message>The security token included in the request is invalid.</Message></Error>'
                        b'<RequestId>1</RequestId></ErrorResponse>')
    aws(admin_client, http_server.url)
    response = send_test_sms(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == "The test SMS could not be sent: AWS SNS did not accept the access key"
    assert "Action=Publish" in http_server.requests[0].body.decode()


def test_sns_unreachable(admin_client, closed_url):
    aws(admin_client, closed_url)
    response = send_test_sms(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == "The test SMS could not be sent: AWS SNS could not be reached"


@pytest.mark.config(SMS_TIMEOUT=0.5)
def test_sns_timeout(admin_client, http_server):
    http_server.delay = 2
    aws(admin_client, http_server.url)
    response = send_test_sms(admin_client)
    assert response.status_code == 502
    assert shown_error(response) == "The test SMS could not be sent: AWS SNS did not answer in time"


# --- Outbox and messages -----------------------------------------------------------------------

def test_outbox_provider_keeps_the_message(admin_client):
    configure_sms(admin_client, provider="outbox")
    delivery.send_sms(PHONE, "Your code is 246810")
    assert "246810" in admin_client.get("/dev/outbox").get_data(as_text=True)


def test_failures_are_logged_without_the_message(admin_client, closed_url, caplog):
    gateway(admin_client, closed_url)
    with pytest.raises(DeliveryError, match="refused the connection"):
        delivery.send_sms(PHONE, "Your code is 135790")
    assert "refused the connection" in caplog.text and "135790" not in caplog.text


def test_verification_sms_replaces_only_its_placeholders():
    template = "Code ${code} for ${userEmail}; {{ config }} {code} ${other}"
    assert verification_sms(template, "123456", "a${code}@example.com") == \
        "Code 123456 for a${code}@example.com; {{ config }} {code} ${other}"
