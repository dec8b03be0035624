"""Server URLs (PostgreSQL, SMTP) and their passwords: how to show a URL without its password,
and how to hide the passwords of known URLs in any text (a message, a driver's error, a
traceback). A leaf: every layer that may print or raise a URL uses it.
"""

from __future__ import annotations

import re

SECRET_PARAMETERS = ("password", "sslpassword")  # libpq's, in a URL's query string


def _password_span(url: str) -> tuple[int, int] | None:
    """Where a server URL's password is, as text: from after the ``:`` that ends the user name
    to the ``@`` before the host. Read as loosely as any reader might, since an unescaped
    ``@``, ``/``, ``?`` or ``#`` in a password moves the host for one reader and not another
    (libpq takes the first ``@`` before a ``/``, urllib the last before a ``/``, ``?`` or
    ``#``): the span reaches the last ``@`` that any of them could take. The URL need not be
    well formed (a bad percent-escape, a broken IPv6 host): its password is still found."""
    found = re.match(r"[A-Za-z][A-Za-z0-9+.-]*:/*", url)  # scheme://, or slashes short
    if found is None:
        return None
    head, sep, rest = url[:found.end()], "", url[found.end():]
    ends = [rest.rfind("@", 0, min([i for i in (rest.find("?"), rest.find("#")) if i >= 0],
                                   default=len(rest)))]
    libpq = re.search(r"[@/]", rest)
    if libpq and libpq.group() == "@":
        ends.append(libpq.start())
    end = max(ends)
    start = rest.find(":", 0, end)
    if end < 0 or start < 0:
        return None
    base = len(head) + len(sep)
    return base + start + 1, base + end


_KEYWORD_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|\S+)", re.IGNORECASE)


def mask_url(url: str) -> str:
    """A server URL (PostgreSQL, SMTP) with its password shown as ``***``: the one after the
    user name, and any in the query string (``?password=…``, as libpq takes it). Works on
    malformed URLs too."""
    from urllib.parse import parse_qsl, urlencode

    if "://" not in url and _KEYWORD_PASSWORD.search(url):  # libpq's "host=… password=…"
        return _KEYWORD_PASSWORD.sub(r"\1***", url)

    span = _password_span(url)
    if span is not None:
        url = f"{url[:span[0]]}***{url[span[1]:]}"
    after = span[1] if span is not None else url.find("://") + 1
    mark = url.find("?", max(after, 0))
    if mark < 0:
        return url
    query, hash_, fragment = url[mark + 1:].partition("#")
    pairs = parse_qsl(query, keep_blank_values=True)
    secret = [k.lower() in SECRET_PARAMETERS for k, _ in pairs]
    if any(secret):
        query = urlencode([(k, "***" if hide else v) for (k, v), hide in zip(pairs, secret)],
                          safe="*")
    elif "password" in query.lower():  # a form parse_qsl does not read as a key
        query = "***"
    return f"{url[:mark + 1]}{query}{hash_}{fragment}"


def conceal(text: str, urls) -> str:
    """``text`` (a message, a driver's error, a traceback) with the passwords of ``urls``
    hidden: each URL as ``mask_url`` shows it, each password as ``***`` wherever it appears
    (as written or percent-decoded), and any quoted part of a URL that reaches into its
    password (a driver that read the URL differently quotes what it took for a host)."""
    from urllib.parse import parse_qsl, unquote

    for url in urls:
        if not url or mask_url(url) == url:
            continue
        text = text.replace(url, mask_url(url))
        span = _password_span(url)
        secrets = []
        if span is not None:
            secrets.append(url[span[0]:span[1]])

            def overlaps(found: re.Match) -> str:
                quote, part = found.group(1), found.group(2)
                hits = (m.start() for m in re.finditer(re.escape(part), url)) if part else ()
                if any(at < span[1] and at + len(part) > span[0] for at in hits):
                    return f"{quote}***{quote}"
                return found.group(0)

            text = re.sub(r"""(["'])(.*?)\1""", overlaps, text)
        query = url.partition("?")[2]
        secrets += [v for k, v in parse_qsl(query, keep_blank_values=True)
                    if k.lower() in SECRET_PARAMETERS]
        for secret in sorted({s for raw in secrets for s in (raw, unquote(raw)) if s},
                             key=len, reverse=True):
            text = text.replace(secret, "***")
    return text


def has_password(url: str) -> bool:
    return mask_url(url) != url
