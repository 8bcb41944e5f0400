"""The HTTP client the Twilio REST client uses, optionally aimed at another base URL.

``twilio`` lets a caller hand its ``Client`` any ``twilio.http.HttpClient`` (its documented way to add
proxies, retries or logging). ``BaseUrlHttpClient`` is the library's own ``TwilioHttpClient`` with one
addition: when a base URL is configured (``TWILIO_API_BASE_URL``), the scheme and host of every request
are replaced by it, so tests can point the real client at a local fake server. Nothing of the library
is patched.
"""

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response


class BaseUrlHttpClient(TwilioHttpClient):
    def __init__(self, *, base_url: str = "", timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(timeout=timeout, **kwargs)
        self.base_url = base_url.rstrip("/")

    def rebase(self, url: str) -> str:
        if not self.base_url:
            return url
        base = urlsplit(self.base_url)
        target = urlsplit(url)
        path = base.path.rstrip("/") + target.path
        return urlunsplit((base.scheme, base.netloc, path, target.query, target.fragment))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rebase(url), *args, **kwargs)
