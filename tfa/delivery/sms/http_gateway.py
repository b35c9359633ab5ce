"""SMS through any provider with an HTTP API: a URL, a method, headers and a body template.

The body template (and the URL) may hold `${phone}` (E.164) and `${message}`, replaced by plain
text replacement, never by a template engine:

- a body that starts with `{` or `[` is JSON: each value is JSON-escaped, so put the placeholders
  inside quotes (`{"to": "${phone}", "text": "${message}"}`); Content-Type defaults to
  application/json;
- any other body is a form: each value is form-encoded (`to=${phone}&text=${message}`);
  Content-Type defaults to application/x-www-form-urlencoded;
- in the URL each value is percent-encoded, for gateways that take a GET with query parameters.

A Content-Type among the headers wins over the default. Redirects are not followed, and the
request has a timeout. Any 2xx answer counts as sent.
"""
import json
import logging
import re
import socket
import urllib.error
import urllib.parse
import urllib.request

from tfa.delivery import DeliveryError

log = logging.getLogger("tfa.delivery.sms")
PHONE = "${phone}"
MESSAGE = "${message}"
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
MAX_HEADERS = 20


def parse_headers(text: str) -> list[tuple[str, str]]:
    """`Name: value` lines → pairs; raises ValueError with a message for a person."""
    headers = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not _HEADER_NAME.match(name):
            raise ValueError(f"Line {number} is not a header: write one Name: value a line")
        headers.append((name, value))
    if len(headers) > MAX_HEADERS:
        raise ValueError(f"At most {MAX_HEADERS} headers")
    return headers


def is_json_template(template: str) -> bool:
    return template.lstrip().startswith(("{", "["))


def render_body(template: str, phone: str, message: str) -> str:
    """The body with `${phone}` and `${message}` replaced, escaped for JSON or a form."""
    if is_json_template(template):
        escape = lambda value: json.dumps(value)[1:-1]  # noqa: E731 - the inside of a JSON string
    else:
        escape = urllib.parse.quote_plus
    # The phone first: it cannot hold "${message}", while a message put in first could hold "${phone}".
    return template.replace(PHONE, escape(phone)).replace(MESSAGE, escape(message))


def render_url(url: str, phone: str, message: str) -> str:
    quote = lambda value: urllib.parse.quote(value, safe="")  # noqa: E731
    return url.replace(PHONE, quote(phone)).replace(MESSAGE, quote(message))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # a 3xx is then raised as an HTTPError


class HttpGatewayProvider:
    name = "HTTP gateway"

    def __init__(self, settings):
        from tfa.delivery.sms import timeout

        self.settings = settings
        self.timeout = timeout()

    def build_request(self, phone: str, text: str) -> urllib.request.Request:
        s = self.settings
        url = render_url(s.http_url, phone, text)
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise DeliveryError("The SMS gateway URL must start with http:// or https://")
        try:
            headers = parse_headers(s.secret("http_headers"))
        except ValueError as error:
            raise DeliveryError(f"The SMS gateway headers are not valid: {error}") from None
        body = None
        if s.http_method != "GET" and s.http_body_template:
            body = render_body(s.http_body_template, phone, text).encode("utf-8")
            default_type = ("application/json" if is_json_template(s.http_body_template)
                            else "application/x-www-form-urlencoded")
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", default_type))
        request = urllib.request.Request(url, data=body, method=s.http_method)
        for name, value in headers:
            request.add_header(name, value)
        request.add_header("User-Agent", "tfa")
        return request

    def send(self, phone: str, text: str) -> None:
        """Call the gateway once; raises DeliveryError on a failure or a non-2xx answer."""
        request = self.build_request(phone, text)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
        except urllib.error.HTTPError as error:
            error.close()
            if error.code in (401, 403):
                reason = f"The SMS gateway did not accept the credentials (HTTP {error.code})"
            elif error.code >= 500:
                reason = f"The SMS gateway is not available right now (HTTP {error.code})"
            else:
                reason = f"The SMS gateway refused the message (HTTP {error.code})"
            raise self._failed(reason, error) from None
        except urllib.error.URLError as error:
            cause = error.reason
            if isinstance(cause, ConnectionRefusedError):
                reason = "The SMS gateway refused the connection"
            elif isinstance(cause, (TimeoutError, socket.timeout)):
                reason = "The SMS gateway did not answer in time"
            elif isinstance(cause, socket.gaierror):
                reason = "The SMS gateway host could not be found"
            else:
                reason = "The SMS gateway could not be reached"
            raise self._failed(reason, error) from None
        except (TimeoutError, socket.timeout) as error:
            raise self._failed("The SMS gateway did not answer in time", error) from None
        except (OSError, ValueError, UnicodeError) as error:
            raise self._failed("The SMS gateway could not be reached", error) from None

    def _failed(self, reason, error):
        log.warning("SMS through the HTTP gateway failed: %s (%s)", reason, type(error).__name__)
        return DeliveryError(reason)
