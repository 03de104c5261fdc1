"""The first gate for an uploaded file: size, DOCTYPE and well-formedness, checked before any parsing."""

from __future__ import annotations

import re

from lxml import etree

from .errors import Problem, ValidationFailed

MAX_BYTES = 5 * 1024 * 1024
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_comments=False,
    )


def load_xml(data: bytes, filename: str | None = None) -> etree._Element:
    """Parse `data` as XML after refusing what could harm the parser; raises ValidationFailed."""
    if len(data) > MAX_BYTES:
        raise ValidationFailed(
            f"文件过大 ({len(data) / 1024 / 1024:.1f} MiB), 上限为 5 MiB", [Problem("文件超过 5 MiB")], file=filename
        )
    # UTF-16 files would hide the DOCTYPE from a byte search; BPMN tools write UTF-8 or ASCII-compatible text.
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ValidationFailed("不支持 UTF-16 编码的文件, 请保存为 UTF-8", [Problem("UTF-16 编码")], file=filename)
    match = _DOCTYPE.search(data)
    if match:
        line = data[: match.start()].count(b"\n") + 1
        raise ValidationFailed(
            "文件包含 DOCTYPE 或实体声明, 出于安全原因被拒绝", [Problem("不允许 DOCTYPE / ENTITY", line=line)],
            file=filename,
        )
    try:
        return etree.fromstring(data, parser=_xml_parser())
    except etree.XMLSyntaxError as exc:
        problems = [Problem(f"XML 格式错误: {exc.msg}", line=exc.lineno)]
        raise ValidationFailed("文件不是格式正确的 XML", problems, file=filename) from None
