"""The words of a notification, and the one outbound connection that sends it.

A notification is fixed text, two counts and the console's address: nothing else can be
put in it, because `compose` takes nothing else (no case, no category, no prison, no
name, no text). Its subject is the same for every kind, so that a relay or mailbox
provider reading headers cannot tell an urgent report from a deadline digest. With the
officer's OpenPGP key the body is sent as PGP/MIME (RFC 3156); the headers stay readable,
which is why they say nothing.

`Relay` is an SMTP connection to the operator's relay (`LANTHORN_SMTP_*`), over STARTTLS
unless the operator allowed a plain one to a relay on this host. A relay that does not
offer STARTTLS gets nothing: the connection is dropped before any address is sent. The
console greets the relay with the From address's domain, not this host's name.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, make_msgid
from types import TracebackType

from . import openpgp
from .settings import MailSettings

#: The one subject every notification has.
SUBJECT = "Lanthorn console"
FOOTER = (
    "This message gives counts only: it names no case, and the console sends nothing "
    "more by email. Whoever can read your mail learns no more than that."
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def compose(kind: str, new_or_due: int, urgent_or_missed: int, console_url: str) -> str:
    """The body: fixed words, the two counts and the console's address, and nothing else."""
    if kind == "reports":
        head = f"{_plural(new_or_due, 'new report')}, {urgent_or_missed} marked urgent."
        link = f"Sign in to the console to read them: {console_url}/cases"
    elif kind == "deadlines":
        head = f"Deadlines: {new_or_due} due by tomorrow, {urgent_or_missed} missed."
        link = f"Sign in to the console to see them: {console_url}/dashboard"
    elif kind == "test":
        head = "A test: notifications from the console reach you."
        link = f"The console: {console_url}/notifications"
    else:
        raise ValueError(f"no notification of kind {kind!r}")
    return f"{head}\n\n{link}\n\n-- \n{FOOTER}\n"


def message(
    mail: MailSettings, to: str, body: str, key: openpgp.PublicKey | None
) -> tuple[Message, bool]:
    """The whole message to `to`, and whether it is encrypted; `OpenPgpError` if the
    key no longer encrypts."""
    # 7-bit when it can be (it always is, but for a console address in another script):
    # what the relay carries is then the words themselves, as the tests read them back.
    inner = MIMEText(body, "plain", "us-ascii" if body.isascii() else "utf-8")
    if key is None:
        outer: Message = inner
    else:
        sealed = openpgp.encrypt(key, inner.as_bytes())
        version = MIMEApplication("Version: 1\n", "pgp-encrypted", _encoder=_seven_bit)
        version["Content-Description"] = "PGP/MIME version identification"
        payload = MIMEApplication(sealed.decode("ascii"), "octet-stream", _encoder=_seven_bit)
        payload.add_header("Content-Disposition", "inline", filename="encrypted.asc")
        outer = MIMEMultipart("encrypted", protocol="application/pgp-encrypted")
        outer.attach(version)
        outer.attach(payload)
    outer["From"] = mail.sender
    outer["To"] = to
    outer["Subject"] = SUBJECT
    outer["Date"] = formatdate(usegmt=True)
    outer["Message-ID"] = make_msgid(domain=_domain(mail))  # not this host's name
    return outer, key is not None


def _seven_bit(part: MIMEApplication) -> None:
    part["Content-Transfer-Encoding"] = "7bit"


def _domain(mail: MailSettings) -> str:
    return mail.sender.rpartition("@")[2] or "lanthorn.invalid"


class NotSent(Exception):
    """A message did not reach the relay. `why` is fixed words (no address, no reply
    text from the relay); `relay` is True when nothing more can be sent now."""

    def __init__(self, why: str, *, relay: bool) -> None:
        super().__init__(why)
        self.why = why
        self.relay = relay


class Relay:
    """One SMTP session with the relay: `with Relay(mail) as relay: relay.send(m)`."""

    def __init__(self, mail: MailSettings) -> None:
        self.mail = mail
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Relay:
        mail = self.mail
        try:
            smtp = smtplib.SMTP(
                mail.host, mail.port, local_hostname=_domain(mail), timeout=mail.timeout
            )
        except OSError:
            raise NotSent("the relay could not be reached", relay=True) from None
        except smtplib.SMTPException:
            raise NotSent("the relay refused the connection", relay=True) from None
        self._smtp = smtp
        try:
            if mail.starttls:
                context = ssl.create_default_context(
                    cafile=str(mail.ca_file) if mail.ca_file else None
                )
                smtp.starttls(context=context)
            if mail.user and mail.password is not None:
                smtp.login(mail.user, mail.password.reveal().decode())
        except BaseException as exc:
            self._close()
            raise _why(exc, relay=True) from None
        return self

    def send(self, message: Message) -> None:
        if self._smtp is None:
            raise NotSent("the relay could not be reached", relay=True)
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            raise NotSent("the relay refused the officer's address", relay=False) from None
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused):
            raise NotSent("the relay refused the message", relay=False) from None
        except BaseException as exc:
            self._close()
            raise _why(exc, relay=True) from None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._close()

    def _close(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None


def _why(exc: BaseException, *, relay: bool) -> BaseException:
    """The fixed words for what went wrong; anything else is raised as it is."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return NotSent("the relay does not offer STARTTLS, so nothing was sent", relay=relay)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return NotSent("the relay's certificate is not trusted", relay=relay)
    if isinstance(exc, ssl.SSLError):
        return NotSent("STARTTLS with the relay failed", relay=relay)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return NotSent("the relay refused the console's user name and password", relay=relay)
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        return NotSent("the relay could not be reached", relay=relay)
    if isinstance(exc, smtplib.SMTPException):
        return NotSent("the relay refused the message", relay=relay)
    return exc


__all__ = ["SUBJECT", "NotSent", "Relay", "compose", "message"]
