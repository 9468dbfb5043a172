"""One redactor for the whole package: credentials in URLs and in any text that may quote one.

Every place that shows a source, a store URL or a library's error text goes through
:func:`redact_url` (or :func:`scrub`, which also hides the known secrets of one URL wherever they
appear, raw or percent-encoded). Both never raise.

What is hidden:

* the password of ``scheme://user:password@host``: everything from the first ``:`` after the user
  to the *last* ``@`` of the URL, so a password with an unescaped ``/``, ``@`` or ``?`` is hidden
  whole (``rtsp://admin:pa/ss@cam/x`` → ``rtsp://admin:***@cam/x``; a ``host:port/path@x`` URL is
  over-redacted rather than leaked);
* a user name alone, often a token (``https://TOKEN@host`` → ``https://***@host``);
* the values of secret-looking query parameters (``?token=``, ``password``, ``key``, …).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, quote, unquote, urlsplit

REDACTED: Final = "***"
"""What a secret is replaced with."""

SECRET_QUERY_KEYS: Final = frozenset(
    {"password", "passwd", "pass", "pwd", "token", "access_token", "auth", "key", "apikey", "api_key",
     "secret", "signature", "sig"}
)  # fmt: skip
"""Query parameters whose values are hidden (case-insensitive)."""

_SCHEME = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)"
# user:password@ up to the last '@' of the URL token (a password may hold '/', '@', '?')
_USER_PASSWORD: Final = re.compile(_SCHEME + r"(?P<user>[^\s:@/'\"<>]*):[^\s'\"<>]*@")
# a user alone (a token): no ':' before the '@', and the '@' before any '/'
_USER_ONLY: Final = re.compile(_SCHEME + r"[^\s:@/'\"<>]+@")
_SECRET_QUERY: Final = re.compile(
    r"(?P<key>[?&;](?:" + "|".join(sorted(SECRET_QUERY_KEYS, key=len, reverse=True)) + r")=)[^&#\s'\"<>]*",
    re.IGNORECASE,
)


def redact_url(text: object, *, keep_user: bool = False) -> str:
    """``text`` (a URL, or any text holding URLs) with every credential replaced by ``***``.

    Args:
        text: anything; converted with ``str``.
        keep_user: keep a user name given without a password (a database login, not a token).

    Returns:
        The text with passwords, token user names and secret query values hidden; text without
        ``://`` (a file path, a camera index) comes back unchanged. Never raises.
    """
    try:
        out = str(text)
        if "://" not in out:
            return out
        out = _USER_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", out)
        if not keep_user:
            out = _USER_ONLY.sub(lambda m: f"{m['scheme']}{REDACTED}@", out)
        return _SECRET_QUERY.sub(lambda m: f"{m['key']}{REDACTED}", out)
    except Exception:
        return REDACTED


def redact_query(text: object) -> str:
    """``text`` with the values of secret-looking query parameters hidden, also in a bare path with a
    query (``/?token=abc`` → ``/?token=***``, as an access log shows it), and any URL credential
    redacted. Never raises."""
    try:
        return _SECRET_QUERY.sub(lambda m: f"{m['key']}{REDACTED}", redact_url(text))
    except Exception:
        return REDACTED


def url_secrets(url: str) -> list[str]:
    """The secrets of ``url`` (password, token user, secret query values), raw and percent-decoded,
    longest first (to replace them wherever a library quotes them)."""
    found: list[str] = []
    try:
        text = str(url)
        m = _USER_PASSWORD.match(text)
        if m is not None:
            found.append(text[m.end("user") + 1 : m.end() - 1])
        else:
            u = _USER_ONLY.match(text)
            if u is not None:
                found.append(text[u.end("scheme") : u.end() - 1])
        query = urlsplit(text).query if "?" in text else ""
        found += [v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() in SECRET_QUERY_KEYS]
    except Exception:  # noqa: S110 - a malformed URL has nothing more we can find
        pass
    out: set[str] = set()
    for s in found:
        if s:
            out.update({s, unquote(s), quote(unquote(s), safe="")})
    return sorted(out, key=len, reverse=True)


def scrub(text: object, urls: Iterable[str] = ()) -> str:
    """``text`` with each of ``urls`` replaced by its redacted form, their secrets hidden wherever
    they appear, and any other URL credential redacted (:func:`redact_url`). Never raises."""
    try:
        out = str(text)
        for url in urls:
            if not url:
                continue
            shown = redact_url(url)
            out = out.replace(url, shown)
            for secret in url_secrets(url):
                out = out.replace(secret, REDACTED)
        return redact_url(out)
    except Exception:
        return REDACTED


__all__ = ["REDACTED", "SECRET_QUERY_KEYS", "redact_query", "redact_url", "scrub", "url_secrets"]
