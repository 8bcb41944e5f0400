"""E-mail through an SMTP server (``smtplib``); connection problems and 4xx replies are retryable."""

import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

from outreach.channels.base import OutgoingMessage, SendResult


class SmtpEmailChannel:
    name = "email"

    def __init__(
        self,
        *,
        host: str,
        port: int = 25,
        username: str = "",
        password: str = "",
        sender: str = "onevisit@localhost",
        starttls: bool = False,
        timeout: float = 10,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.username = username
        self.password = password
        self.sender = sender
        self.starttls = starttls
        self.timeout = timeout

    def build(self, message: OutgoingMessage) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender
        email["To"] = message.to
        email["Subject"] = message.subject or "OneVisit"
        domain = self.sender.rpartition("@")[2] or "localhost"
        email["Message-ID"] = make_msgid(idstring=message.key.replace(" ", "_")[:40], domain=domain)
        email.set_content(message.body)
        for attachment in message.attachments:
            maintype, _, subtype = attachment.content_type.partition("/")
            email.add_attachment(
                attachment.data, maintype=maintype, subtype=subtype or "octet-stream",
                filename=attachment.filename, params=dict(attachment.params),
            )
        email["Content-Language"] = message.language  # after set_content, which drops Content-* headers
        return email

    def send(self, message: OutgoingMessage) -> SendResult:
        if "@" not in (message.to or ""):
            return SendResult(ok=False, error="no e-mail address", retryable=False)
        email = self.build(message)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            return SendResult(ok=False, error=f"recipient refused: {exc.recipients}"[:500],
                              retryable=all(400 <= c < 500 for c in codes))
        except smtplib.SMTPResponseException as exc:
            return SendResult(ok=False, error=f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:500],
                              retryable=400 <= exc.smtp_code < 500)
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            return SendResult(ok=False, error=f"SMTP failed: {type(exc).__name__}: {exc}"[:500], retryable=True)
        return SendResult(ok=True, provider_id=str(email["Message-ID"]))
