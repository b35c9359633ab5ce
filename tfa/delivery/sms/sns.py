"""SMS through AWS SNS (or a compatible service at another endpoint URL) with boto3."""
import logging

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from tfa.delivery import DeliveryError

log = logging.getLogger("tfa.delivery.sms")
_BAD_CREDENTIALS = {
    "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException",
    "AuthorizationError", "AccessDenied", "AccessDeniedException", "ExpiredToken",
}


class SnsProvider:
    name = "AWS SNS"

    def __init__(self, settings):
        from tfa.delivery.sms import timeout

        self.settings = settings
        self.timeout = timeout()

    def _client(self):
        s = self.settings
        return boto3.session.Session().client(
            "sns",
            region_name=s.sns_region,
            endpoint_url=s.sns_endpoint_url or None,
            aws_access_key_id=s.sns_access_key_id,
            aws_secret_access_key=s.secret("sns_secret_key"),
            config=Config(connect_timeout=self.timeout, read_timeout=self.timeout,
                          retries={"max_attempts": 1, "mode": "standard"}),
        )

    def send(self, phone: str, text: str) -> None:
        """Publish one SMS; raises DeliveryError on any failure."""
        try:
            self._client().publish(
                PhoneNumber=phone,
                Message=text,
                MessageAttributes={
                    "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
                },
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            if code in _BAD_CREDENTIALS or status in (401, 403):
                reason = "AWS SNS did not accept the access key"
            elif code in {"Throttling", "ThrottlingException", "ThrottledException"} or status == 429:
                reason = "AWS SNS is limiting requests: try again in a moment"
            elif status >= 500:
                reason = f"AWS SNS is not available right now (HTTP {status})"
            else:
                reason = f"AWS SNS refused the message ({code or status})"
            raise self._failed(reason, error) from None
        except (ConnectTimeoutError, ReadTimeoutError) as error:
            raise self._failed("AWS SNS did not answer in time", error) from None
        except EndpointConnectionError as error:
            raise self._failed("AWS SNS could not be reached", error) from None
        except (BotoCoreError, ValueError) as error:
            raise self._failed("AWS SNS could not send the message", error) from None

    def _failed(self, reason, error):
        log.warning("SMS through AWS SNS failed: %s (%s)", reason, type(error).__name__)
        return DeliveryError(reason)
