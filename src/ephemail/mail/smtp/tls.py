"""The STARTTLS certificate, reloaded when its files change."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

log = logging.getLogger("ephemail.mail.smtp")  # the whole SMTP front logs under one name


class TlsContexts:
    """The STARTTLS context, built from the configured files and rebuilt when they change,
    so a renewed certificate is used without a restart."""

    def __init__(self, cert: Path, key: Path) -> None:
        self._cert, self._key = cert, key
        self._stamp: tuple[int, int, int, int] | None = None
        self._context: ssl.SSLContext | None = None

    def context(self) -> ssl.SSLContext:
        cert, key = self._cert.stat(), self._key.stat()
        stamp = (cert.st_mtime_ns, cert.st_size, key.st_mtime_ns, key.st_size)
        if stamp != self._stamp or self._context is None:
            try:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(self._cert, self._key)
            except (OSError, ssl.SSLError):
                if self._context is None:
                    raise
                log.exception("reloading the TLS certificate failed; keeping the old one")
                return self._context
            self._context, self._stamp = context, stamp
        return self._context
