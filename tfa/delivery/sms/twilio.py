"""SMS through Twilio's Messages API with the official `twilio` package."""
import logging

import requests
from flask import current_app
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from tfa.delivery import DeliveryError

log = logging.getLogger("tfa.delivery.sms")
TWILIO_API_URL = "https://api.twilio.com"
# The twilio client logs every request at INFO; keep it quiet.
_twilio_log = logging.getLogger("tfa.delivery.sms.twilio_http")
_twilio_log.setLevel(logging.WARNING)


class _HttpClient(TwilioHttpClient):
    """Twilio's HTTP client with a timeout and, when configured, another API address.

    TWILIO_API_URL (configuration) points the client at a Twilio-compatible endpoint, such as a
    regional proxy or a local server in tests.
    """

    def __init__(self, api_url: str, timeout: float):
        super().__init__(pool_connections=False, timeout=timeout, logger=_twilio_log)
        self.api_url = api_url.rstrip("/")

    def request(self, method, url, *args, **kwargs):
        if self.api_url != TWILIO_API_URL and url.startswith(TWILIO_API_URL):
            url = self.api_url + url[len(TWILIO_API_URL):]
        return super().request(method, url, *args, **kwargs)


class TwilioProvider:
    name = "Twilio"

    def __init__(self, settings):
        from tfa.delivery.sms import timeout

        self.settings = settings
        self.api_url = current_app.config.get("TWILIO_API_URL") or TWILIO_API_URL
        self.timeout = timeout()

    def send(self, phone: str, text: str) -> None:
        """Send one SMS; raises DeliveryError on any failure."""
        s = self.settings
        client = Client(s.twilio_account_sid, s.secret("twilio_auth_token"),
                        http_client=_HttpClient(self.api_url, self.timeout))
        try:
            client.messages.create(to=phone, from_=s.twilio_from_number, body=text)
        except TwilioRestException as error:
            raise self._failed(_rest_reason(error), error) from None
        except requests.Timeout as error:
            raise self._failed("Twilio did not answer in time", error) from None
        except requests.ConnectionError as error:
            refused = "refused" in str(error).lower()
            raise self._failed("Twilio refused the connection" if refused else "Twilio could not be reached",
                               error) from None
        except (requests.RequestException, TwilioException, ValueError) as error:
            raise self._failed("Twilio could not send the message", error) from None

    def _failed(self, reason, error):
        log.warning("SMS through Twilio failed: %s (%s)", reason, type(error).__name__)
        return DeliveryError(reason)


def _rest_reason(error: TwilioRestException) -> str:
    if error.status in (401, 403):
        return "Twilio did not accept the account SID or auth token"
    if error.status == 404:
        return "Twilio does not know this account SID"
    if error.status == 429:
        return "Twilio is limiting requests: try again in a moment"
    if error.status >= 500:
        return f"Twilio is not available right now (HTTP {error.status})"
    code = f", error {error.code}" if error.code else ""
    return f"Twilio refused the message (HTTP {error.status}{code})"
