"""HTML forms as a browser submits them, and ASP.NET postbacks: pure functions on parsel
selectors.

A form goes back with every successful control (HTML's "constructing the entry list"):
inputs with their value (hidden ones: CSRF tokens, ``__VIEWSTATE``, ``__EVENTVALIDATION``,
``javax.faces.ViewState``), a checkbox or radio only when checked, a ``select``'s selected
option (else its first), a ``textarea``'s text; never a disabled control, a file input or
a button, except the one button pressed. It is posted (or, for ``method="get"``, sent as
the query) to its ``action`` resolved against the page, in the page's encoding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urljoin, urlsplit, urlunsplit

__all__ = ["FormError", "FormRequest", "build_request", "form_fields", "parse_postback"]

_CONTROLS = ".//input[@name] | .//select[@name] | .//textarea[@name] | .//button[@name]"
_BUTTONS = {"submit", "image", "button", "reset"}
_POSTBACK = re.compile(
    r"""__doPostBack\(\s*(?:'|"|&\#39;|&quot;)(.*?)(?:'|"|&\#39;|&quot;)\s*,\s*"""
    r"""(?:'|"|&\#39;|&quot;)(.*?)(?:'|"|&\#39;|&quot;)\s*\)"""
)


class FormError(ValueError):
    """The form lacks what the profile names (a button, a field)."""


@dataclass(frozen=True)
class FormRequest:
    """A request for a page: a link followed (``fields`` None) or a form submitted
    (method, absolute URL and the fields in order)."""

    method: str
    url: str
    fields: list[tuple[str, str]] | None = None

    def body(self, encoding: str) -> bytes | None:
        """The urlencoded fields in the page's encoding (what a browser posts); None for GET."""
        if self.method == "GET" or self.fields is None:
            return None
        return urlencode(self.fields, encoding=encoding, errors="xmlcharrefreplace").encode("ascii")

    def target(self, encoding: str) -> str:
        """The URL requested: for GET, the fields replace the action's query."""
        if self.method != "GET" or self.fields is None:
            return self.url
        parts = urlsplit(self.url)
        query = urlencode(self.fields, encoding=encoding, errors="xmlcharrefreplace")
        return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _type(node: Any) -> str:
    name = node.root.tag.lower() if isinstance(node.root.tag, str) else ""
    if name == "button":
        return (node.attrib.get("type") or "submit").lower()
    if name in ("select", "textarea"):
        return name
    return (node.attrib.get("type") or "text").lower()


def form_fields(form: Any, *, submit: str | None = "") -> list[tuple[str, str]]:
    """The form's successful controls. ``submit``: the name of the button pressed; ""
    presses the first named submit button (if any); None presses none (a postback)."""
    pairs: list[tuple[str, str]] = []
    pressed = False
    for node in form.xpath(_CONTROLS):
        name, kind = node.attrib["name"], _type(node)
        if "disabled" in node.attrib:
            continue
        if kind in _BUTTONS:
            if submit is None or pressed or kind not in ("submit", "image"):
                continue
            if submit and name != submit:
                continue
            pressed = True
            if kind == "image":  # a click at (0, 0)
                pairs += [(f"{name}.x", "0"), (f"{name}.y", "0")]
            else:
                pairs.append((name, node.attrib.get("value", "")))
        elif kind in ("checkbox", "radio"):
            if "checked" in node.attrib:
                pairs.append((name, node.attrib.get("value", "on")))
        elif kind == "select":
            options = node.xpath(".//option")
            chosen = [o for o in options if "selected" in o.attrib] or options[:1]
            for option in chosen if "multiple" in node.attrib else chosen[:1]:
                text = " ".join((option.xpath("string()").get() or "").split())
                pairs.append((name, option.attrib.get("value", text)))
        elif kind == "textarea":
            text = node.xpath("string()").get() or ""
            pairs.append((name, text[1:] if text.startswith("\n") else text))  # as browsers
        elif kind != "file":
            pairs.append((name, node.attrib.get("value", "")))
    if submit and not pressed:
        raise FormError(f"no submit button named {submit!r} in the form")
    return pairs


def build_request(
    form: Any,
    page_url: str,
    *,
    submit: str | None = "",
    values: dict[str, str] | None = None,
) -> FormRequest:
    """The request submitting ``form`` (found on ``page_url``) with ``values`` set."""
    pairs = form_fields(form, submit=submit)
    for name, value in (values or {}).items():
        if any(n == name for n, _ in pairs):
            pairs = [(n, value if n == name else v) for n, v in pairs]
        else:
            pairs.append((name, value))
    action = (form.attrib.get("action") or "").strip()
    try:
        url = urljoin(page_url, action) if action else page_url
    except ValueError:
        url = action  # refused by the origin check
    method = "GET" if (form.attrib.get("method") or "post").lower() == "get" else "POST"
    return FormRequest(method, url.split("#", 1)[0], pairs)


def parse_postback(text: str) -> tuple[str, str] | None:
    """``(target, argument)`` of a ``__doPostBack('target','argument')`` call in ``text``
    (an href, URL-quoted or not, or an onclick); None when there is none."""
    found = _POSTBACK.search(unquote(text))
    return (found.group(1), found.group(2)) if found else None
