"""Only ever redirect to a path on this site (``next=`` parameters come from the outside)."""

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a local path like ``/board?day=...``, else ``None``."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(ch) < 32 for ch in target):
        return None
    return target
