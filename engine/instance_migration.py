"""Moving running instances of an older version onto their process's newest version.

An instance can move when every step it is at exists in the newest version (by element id). It keeps
its task ids, data and open tasks (with their holder); the open tasks take the new version's name, form,
description and routing. Each move is one change of the instance (revision taken first) and one audit
event `migrated`. The pure part (what can move, how the workflow is rebuilt) is in versions.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from . import versions
from .errors import NotPermitted, Problem, StaleAction, ValidationFailed
from .messages import say
from .routing import CLAIMED, OPEN
from .store import audit, instances, tasks
from .store import definitions as stored
from .store.models import ProcessDefinition, ProcessInstance

if TYPE_CHECKING:
    from .engine import Engine


@dataclass
class InstanceMove:
    """One instance in a dry run or a move: where it is, and what (if anything) keeps it from moving."""

    instance_id: int
    business_key: str | None
    from_version: int
    to_version: int
    active: list[versions.ActiveStep] = field(default_factory=list)
    missing: list[versions.ActiveStep] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict:
        return {"instance_id": self.instance_id, "business_key": self.business_key,
                "from_version": self.from_version, "to_version": self.to_version, "movable": self.movable,
                "active": [s.__dict__ for s in self.active], "missing": [s.__dict__ for s in self.missing]}


def _newest(session: Session, process_id: str) -> ProcessDefinition:
    newest = stored.get_version(session, process_id, None)
    if not newest.executable:
        raise NotPermitted(say("migration.newest_view_only", process=process_id), process_id=process_id)
    return newest


def _plan(engine: Engine, session: Session, instance: ProcessInstance, newest: ProcessDefinition) -> InstanceMove:
    workflow = engine._load(session, instance, for_change=False)
    plan = versions.plan_migration(workflow, *engine._spec(newest))
    return InstanceMove(instance.id, instance.business_key, instance.version, newest.version, plan.active, plan.missing)


def plans(engine: Engine, session: Session, process_id: str,
          instance_ids: list[int] | None = None) -> list[InstanceMove]:
    """Dry run over the running instances of older versions (or just `instance_ids` among them); stores nothing."""
    newest = _newest(session, process_id)
    return [_plan(engine, session, row, newest)
            for row in stored.running_instances(session, process_id, newest.version, instance_ids)]


def migrate(engine: Engine, session: Session, instance_id: int, by: str | None) -> InstanceMove:
    """Move one running instance to the newest version; raises if it cannot (and then nothing changes)."""
    instance = instances.get(session, instance_id)
    newest = _newest(session, instance.process_id)
    if instance.status != "running":
        raise StaleAction(say("migration.ended", id=instance_id), instance_id=instance_id)
    if instance.version >= newest.version:
        raise StaleAction(say("migration.on_newest", id=instance_id, version=instance.version), instance_id=instance_id)
    workflow = engine._load(session, instance)
    spec, subprocess_specs = engine._spec(newest)
    plan = versions.plan_migration(workflow, spec, subprocess_specs)
    move = InstanceMove(instance.id, instance.business_key, instance.version, newest.version, plan.active, plan.missing)
    if not move.movable:
        raise ValidationFailed(
            say("migration.steps_missing", id=instance_id, version=newest.version),
            [Problem(say("migration.step_missing", step=s.name or s.element_id, version=newest.version),
                     element_id=s.element_id, element_name=s.name) for s in move.missing],
            instance_id=instance_id)
    revision = instances.take_revision(session, instance.id, instance.revision)
    versions.move_workflow(workflow, spec, subprocess_specs)
    # a serialization round trip on the new spec: timers and events are registered as after any reload
    workflow = engine.runtime.load_state(engine.runtime.dump_state(workflow), spec, subprocess_specs)
    now = engine.clock.now()
    stored.move_instance(session, instance, newest)
    audit.record(session, "migrated", now, actor=by, instance_id=instance.id, process_id=instance.process_id,
                 from_version=move.from_version, to_version=move.to_version,
                 steps=[s.element_id for s in move.active])
    engine._advance_and_save(session, instance, workflow, by, revision)
    _refresh_open_tasks(engine, session, instance.id, workflow, by)
    return move


def _refresh_open_tasks(engine: Engine, session: Session, instance_id: int, workflow, by: str | None) -> None:
    """Open tasks show the new version's name, form and description; routing follows the new lane and scope."""
    ready = {item.guid: item for item in engine.runtime.ready_tasks(workflow)}
    now = engine.clock.now()
    roles = engine._role_names(session, now)
    for row in tasks.active_for_instance(session, instance_id):
        item = ready.get(row.task_guid)
        if item is None:
            continue
        role = roles.for_lane(item.lane)
        rerouted = (role, item.scope) != (row.role, row.scope)
        row.element_id, row.step, row.name = item.element_id, item.step, item.name
        row.documentation = item.documentation
        row.form, row.prefill, row.lane, row.role, row.scope = item.form, item.prefill, item.lane, role, item.scope
        if rerouted and row.state == CLAIMED:  # the holder may not hold the new role and scope: back to the pool
            audit.record(session, "unclaimed", now, actor=by, instance_id=instance_id, task_id=row.id,
                         holder=row.assignee, reason="migrated")
            row.state, row.assignee, row.claimed_at = OPEN, None, None
    session.flush()
