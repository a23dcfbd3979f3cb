"""How a portal page's bytes become text: the profile's encoding, or the page's own word
for it, as a browser reads it. Pure functions.

With ``encoding = "auto"`` (the default): a byte order mark, else the HTTP
``Content-Type`` charset, else ``<meta charset>`` / ``<meta http-equiv="Content-Type">``
in the first 2 KB, else UTF-8 when the bytes (not all ASCII) decode as UTF-8, else Windows-1252 (a
browser's default for Portuguese; what a form on such a page is posted in). A declared
ISO-8859-1, Latin-1 or ASCII is read as Windows-1252, as browsers do (legacy servers
declare Latin-1 and send Windows-1252's “quotes” and dashes). Any other profile value
forces that codec. Bytes that do not decode become U+FFFD, never an error.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["Decoded", "declared_charset", "decode_page"]

_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:-]+)", re.I)
_META = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
#: Labels browsers read as Windows-1252 (WHATWG Encoding Standard).
_AS_1252 = {"ascii", "latin-1", "iso8859-1", "cp1252"}
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True)
class Decoded:
    """A page's text, the codec used and where it came from (``profile``, ``header``,
    ``bom``, ``meta``, ``utf-8 detected`` or ``fallback``)."""

    text: str
    encoding: str
    source: str


def _codec(label: str) -> str | None:
    """Python's codec for a charset label, browsers' reading of Latin-1 applied."""
    try:
        name = codecs.lookup(label.strip().lower()).name
    except LookupError:
        return None
    return "cp1252" if name in _AS_1252 else name


def declared_charset(content_type: str | None, body: bytes) -> tuple[str, str] | None:
    """``(codec, source)`` of the charset the page declares, if any it declares is known."""
    for bom, name in _BOMS:  # a byte order mark wins, as in browsers
        if body.startswith(bom):
            return name, "bom"
    found = _HEADER.search(content_type or "")
    name = _codec(found.group(1)) if found else None
    if name:
        return name, "header"
    meta = _META.search(body[:2048])
    name = _codec(meta.group(1).decode("ascii", "replace")) if meta else None
    if name:
        return name, "meta"
    return None


def decode_page(body: bytes, content_type: str | None, encoding: str = "auto") -> Decoded:
    """The page's text (see the module's docstring for the order of the rules)."""
    if encoding != "auto":
        return Decoded(body.decode(encoding, errors="replace"), encoding, "profile")
    declared = declared_charset(content_type, body)
    if declared is not None:
        name, source = declared
        text = body.decode(name, errors="replace")
        return Decoded(text.lstrip("\ufeff") if source == "bom" else text, name, source)
    if not body.isascii():  # ASCII says nothing: a browser's own default applies
        try:
            return Decoded(body.decode("utf-8"), "utf-8", "utf-8 detected")
        except UnicodeDecodeError:
            pass
    return Decoded(body.decode("cp1252", errors="replace"), "cp1252", "fallback")
