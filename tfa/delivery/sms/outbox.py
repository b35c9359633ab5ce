"""The development outbox as an SMS provider: messages are kept and shown, nothing is sent."""
from tfa.delivery import outbox


class OutboxProvider:
    name = "Outbox"

    def send(self, phone: str, text: str) -> None:
        """Keep the message in the outbox."""
        outbox.store("sms", phone, "", text)
