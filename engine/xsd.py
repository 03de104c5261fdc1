"""Validation against the BPMN 2.0 XSD, reporting every error with its line."""

from __future__ import annotations

import copy
import os
from functools import lru_cache

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import XSD_PATH
from SpiffWorkflow.bpmn.parser.node_parser import DEFAULT_NSMAP

from .errors import Problem
from .messages import say


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    # The XSD imports its siblings by relative path, so parse it from its own folder.
    parser = etree.XMLParser(no_network=True)
    return etree.XMLSchema(etree.parse(os.fspath(XSD_PATH), parser))


def xsd_problems(root: etree._Element) -> list[Problem]:
    """Every XSD error of the document (an empty list when it is valid)."""
    doc = copy.deepcopy(root)
    # bpmn-js writes correlation retrieval expressions in a form the XSD rejects; SpiffWorkflow accepts it.
    for expr in doc.xpath(
        ".//bpmn:correlationPropertyRetrievalExpression/bpmn:formalExpression", namespaces=DEFAULT_NSMAP
    ):
        expr.tag = "{{{}}}messagePath".format(DEFAULT_NSMAP["bpmn"])
    schema = _schema()
    if schema.validate(doc):
        return []
    problems = []
    by_line: dict[int, str] = {}
    for element in doc.iter():
        if isinstance(element.tag, str) and element.get("id") and element.sourceline not in by_line:
            by_line[element.sourceline] = element.get("id")
    for error in schema.error_log:
        element_id = by_line.get(error.line)
        problems.append(Problem(say("deploy.xsd_error", error=error.message), element_id=element_id, line=error.line))
    return problems
