"""Lanes against the organisation: a lane that gives user tasks names a role; warn when nobody holds it.

Pure: the caller passes the role names (with aliases) and the roles someone holds; no database here.
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import Problem
from .messages import say
from .spiff_dialect import NSMAP

BPMN = "{{{}}}".format(NSMAP["bpmn"])


def _task_lanes(root) -> list:
    """The lanes of executable processes that hold at least one user task (directly or in a nested lane)."""
    found = []
    for process in root.iter(BPMN + "process"):
        if process.get("isExecutable", "true") != "true":
            continue
        user_tasks = {t.get("id") for t in process.iter(BPMN + "userTask")}
        for lane in process.iter(BPMN + "lane"):
            if {ref.text.strip() for ref in lane.iter(BPMN + "flowNodeRef") if ref.text} & user_tasks:
                found.append(lane)
    return found


def _problem(lane, message: str) -> Problem:
    return Problem(message, element_id=lane.get("id"), element_name=lane.get("name"), line=lane.sourceline)


def lane_problems(root, role_names: Mapping[str, str], staffed: set[str]) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for the lanes of a parsed file.

    `role_names` maps every role name and alias to its role; when it is empty (no organisation loaded yet)
    lane names cannot be checked and only the warnings are given. `staffed` holds the roles someone holds.
    """
    errors, warnings = [], []
    for lane in _task_lanes(root):
        name = (lane.get("name") or "").strip()
        if not name:
            errors.append(_problem(lane, say("deploy.lane_no_name")))
            continue
        if role_names and name not in role_names:
            known = sorted(set(role_names.values()))
            errors.append(_problem(lane, say("deploy.lane_unknown_role", lane=name, known=known)))
            continue
        role = role_names.get(name, name)
        if role not in staffed:
            warnings.append(_problem(lane, say("deploy.lane_unstaffed", lane=name, role=role)))
    return errors, warnings
