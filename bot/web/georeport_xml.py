"""GeoReport v2's XML (wiki.open311.org/GeoReport_v2): what the Open311 routes answer as JSON,
written as the spec's elements. The spec's JSON is a mapping of its XML (the "Spark
convention"), so one structure makes both: a list becomes a wrapper whose children are named
for it (`services` → `service`, `service_requests` → `request`, `errors` → `error`, and the
discovery document's `endpoints` → `endpoint`, `formats` → `format`), null an empty element,
a boolean `true`/`false`. UTF-8, declared; no namespace, as the spec recommends."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree

CONTENT_TYPE = "text/xml"
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>\n'
# A list's element: the name of each of its items.
ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
}
# What XML 1.0 cannot hold even escaped: most control characters, lone surrogates, U+FFFE/F.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def document(root: str, value: Any) -> bytes:
    """`value` (a list, or for the discovery document a mapping) as the element `root`."""
    element = ElementTree.Element(root)
    _fill(element, value)
    return DECLARATION + ElementTree.tostring(element, encoding="unicode").encode("utf-8")


def errors(status: int, description: str) -> bytes:
    """The spec's error list: <errors><error><code/><description/></error></errors>."""
    return document("errors", [{"code": status, "description": description}])


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, inner in value.items():
            _fill(ElementTree.SubElement(element, name), inner)
    elif isinstance(value, list):
        for inner in value:
            _fill(ElementTree.SubElement(element, ITEMS[element.tag]), inner)
    elif value is not None:
        element.text = NOT_XML.sub("", _text(value))


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
