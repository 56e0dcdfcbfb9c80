"""Links that come in from outside (import files, the "save as solution" form): only well-formed http(s) URLs.

:func:`check_url` parses with :mod:`urllib.parse` and refuses what a renderer could misread: whitespace, control
characters, ``<``, ``>``, ``|``, ``"`` and backslashes (Slack's ``<url|label>`` and HTML both break on them), a
missing host, credentials in the URL (``https://trusted.example@evil.example``) and a bad port. What the library
can encode is encoded rather than refused: a non-ASCII host becomes IDNA (punycode), non-ASCII and unsafe characters
of the path, query and fragment are percent-encoded. Scheme and host are lowercased. Renderers must still escape
what they print: a valid URL may hold ``&``.
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit, urlunsplit

#: Characters refused anywhere in a URL (besides whitespace and control characters).
FORBIDDEN = '<>|"\\'
_SAFE = "/%:@!$&'()*+,;=-._~?#[]"  # RFC 3986 reserved and unreserved characters: kept as they are
_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]|\s")
_HOST = re.compile(r"^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$")


def check_url(value: str, *, max_length: int | None = None, field: str = "source_url") -> str:
    """The URL ``value`` normalised, or ``ValueError`` naming ``field`` and what is wrong (never echoing the URL)."""
    if not isinstance(value, str):
        raise ValueError(f"field '{field}' must be a string")
    url = value.strip()
    if _CONTROL.search(url):
        raise ValueError(f"{field} must be one URL without spaces or control characters")
    bad = sorted({c for c in url if c in FORBIDDEN})
    if bad:
        raise ValueError(f"{field} must not contain {' '.join(bad)} (percent-encode them)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"{field} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not url.lower().startswith(f"{scheme}://"):
        raise ValueError(f"{field} must be an http(s) URL (http://... or https://...)")
    if parts.username is not None or parts.password is not None:
        raise ValueError(f"{field} must not contain a user name or password")
    host = _host(parts.hostname or "", field)
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    normal = urlunsplit((scheme, netloc, quote(parts.path, safe=_SAFE), quote(parts.query, safe=_SAFE),
                         quote(parts.fragment, safe=_SAFE)))
    if max_length is not None and len(normal) > max_length:
        raise ValueError(f"{field} is longer than {max_length} characters")
    return normal


def _host(host: str, field: str) -> str:
    """The host lowercased, as ASCII (IDNA for a non-ASCII name); IPv6 addresses kept."""
    if not host:
        raise ValueError(f"{field} must name a host, e.g. https://example.org/page")
    if ":" in host:  # an IPv6 literal: urlsplit already checked the brackets
        if not re.fullmatch(r"[0-9a-f:.]+", host):
            raise ValueError(f"{field} has an invalid IPv6 host")
        return host
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise ValueError(f"{field} has an invalid host name") from None
    if not _HOST.match(ascii_host):
        raise ValueError(f"{field} has an invalid host name")
    return ascii_host
