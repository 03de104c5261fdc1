"""The first gate for an uploaded file: size, encoding, DOCTYPE and well-formedness, checked before any parsing."""

from __future__ import annotations

import re

from lxml import etree

from .errors import Problem, ValidationFailed
from .messages import say

MAX_BYTES = 5 * 1024 * 1024
_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _xml_parser() -> etree.XMLParser:
    # encoding="utf-8" overrides the document's declaration (say UTF-7, where "+ADw-!DOCTYPE" is a DOCTYPE):
    # the text searched above is the text parsed.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=False, encoding="utf-8",
    )


def _refuse(message: str, problem: str, filename: str | None, line: int | None = None):
    raise ValidationFailed(message, [Problem(problem, line=line)], file=filename)


def load_xml(data: bytes, filename: str | None = None) -> etree._Element:
    """Parse `data` as XML after refusing what could harm the parser; raises ValidationFailed."""
    if len(data) > MAX_BYTES:
        _refuse(say("deploy.too_big", size=f"{len(data) / 1024 / 1024:.1f}"), say("deploy.too_big_problem"), filename)
    # UTF-16 files would hide the DOCTYPE from a byte search; BPMN tools write UTF-8 or ASCII-compatible text.
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        _refuse(say("deploy.utf16"), say("deploy.utf16_problem"), filename)
    # Only UTF-8 is read: an encoding such as UTF-16 without a byte-order mark, UTF-32 or UTF-7 would let a
    # DOCTYPE through a search of the raw bytes.
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        _refuse(say("deploy.not_utf8"), say("deploy.not_utf8_problem", byte=exc.start), filename, line)
    text = text.removeprefix("\ufeff")
    match = _DOCTYPE.search(text)
    if match:
        line = text[: match.start()].count("\n") + 1
        _refuse(say("deploy.doctype"), say("deploy.doctype_problem"), filename, line)
    try:
        root = etree.fromstring(data, parser=_xml_parser())
    except etree.XMLSyntaxError as exc:
        problems = [Problem(say("deploy.xml_error", error=exc.msg), line=exc.lineno)]
        raise ValidationFailed(say("deploy.not_xml"), problems, file=filename) from None
    if root.getroottree().docinfo.internalDTD is not None:  # a second line of defence; the search above refuses it
        _refuse(say("deploy.doctype"), say("deploy.doctype_problem"), filename)
    return root
