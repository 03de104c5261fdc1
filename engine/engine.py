"""The engine: deploy, start, route, claim, complete, and fire timers, one unit of work at a time.

Every public method takes the caller's session and never commits (see store/unit_of_work.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from . import definitions as bpmn_definitions
from . import instance_migration, lane_roles, versions
from .clock import COMPANY_TZ, Clock
from .errors import HandlerFailed, NotPermitted, Problem, SmflowError, StaleAction, ValidationFailed, WorkflowError
from .forms import clean_draft, json_problem, validate_submission
from .handler_api import HandlerContext, HandlerRegistry
from .messages import say
from .paths import taken_flows
from .routing import ACTIVE_STATES, CLAIMED, COMPLETED, OPEN, Actor, TaskRef, can_unclaim, why_not
from .runtime import Runtime, find_task
from .sandbox import Sandbox
from .scheduling import RunLater, Scheduling
from .store import audit, instances, jobs, org, tasks
from .store import definitions as stored
from .store.models import HumanTask, ProcessDefinition, ProcessInstance
from .store.unit_of_work import after_commit
from .xml_safety import load_xml

ROLE_CACHE_TTL = timedelta(seconds=60)
WARM_WORKFLOWS = 256  # deserialized workflows kept between units of work, by instance
# Set by the engine at start: the organisation snapshot, who started and when.
RESERVED_START_KEYS = {"regions", "offices", "channels", "product_lines", "started_at", "started_by"}


@dataclass(frozen=True)
class DeployResult:
    process_id: str
    version: int
    status: str  # deployed | unchanged
    name: str | None
    executable: bool
    warnings: tuple[Problem, ...] = ()

    def to_dict(self) -> dict:
        return {"process_id": self.process_id, "version": self.version, "status": self.status,
                "name": self.name, "executable": self.executable,
                "warnings": [w.to_dict() for w in self.warnings]}


def _task_ref(row: HumanTask) -> TaskRef:
    return TaskRef(role=row.role, scope=row.scope, state=row.state, assignee=row.assignee)


class Engine(Scheduling):
    def __init__(self, handlers: HandlerRegistry, sandbox: Sandbox | None = None, clock: Clock | None = None):
        self.handlers = handlers
        self.sandbox = sandbox or Sandbox()
        self.clock = clock or Clock()
        self.runtime = Runtime(self.sandbox, self.clock)
        self._specs: dict[int, tuple] = {}
        self._roles: tuple[datetime, org.RoleNames] | None = None
        self._warm: dict[int, tuple[int, object]] = {}  # instance → (revision, workflow)

    # -- deploy ---------------------------------------------------------------------------------
    def check(self, session: Session, data: bytes, filename: str | None = None):
        """Every check deploying makes, storing nothing: the file itself, and its lanes against the organisation.

        Returns (the parsed file, its warnings); raises ValidationFailed listing every error at once, with
        the warnings in its context (`warnings`).
        """
        return check_file(self, session, data, filename)

    def deploy(self, session: Session, data: bytes, filename: str | None = None,
               by: str | None = None) -> list[DeployResult]:
        """Check a BPMN file and store a new version of each process in it; raises ValidationFailed.

        A process whose model and drawing equal its latest version's (however the XML is written) keeps
        that version (`unchanged`); a new version records what changed against the previous one.
        """
        parsed, warnings = self.check(session, data, filename)
        now = self.clock.now()
        results, diffs = [], {}
        for process in parsed.processes:
            same = session.scalars(select(ProcessDefinition).where(
                ProcessDefinition.process_id == process.process_id,
                ProcessDefinition.file_sha256 == parsed.sha256)).first()
            previous = same or stored.latest(session, process.process_id)
            changes = None
            if previous is not None and same is None:
                if previous.file_sha256 not in diffs:
                    diffs[previous.file_sha256] = versions.diff_files(stored.file_content(session, previous), data)
                diff = diffs[previous.file_sha256].for_process(process.process_id)
                same = previous if diff.unchanged else None
                changes = diff.to_dict()
            if same is not None:
                results.append(DeployResult(process.process_id, same.version, "unchanged", same.name, same.executable,
                                            tuple(warnings)))
                continue
            stored.save_file(session, parsed.sha256, data, filename, by, now)
            spec_json = (self.runtime.dump_spec(process.spec, process.subprocess_specs)
                         if process.executable else None)
            row = stored.add_definition(
                session, process_id=process.process_id, version=stored.next_version(session, process.process_id),
                name=process.name, executable=process.executable, file_sha256=parsed.sha256, spec_json=spec_json,
                owner=process.owner, start_cycle=process.start_cycle, deployed_by=by, deployed_at=now,
                changes=changes,
            )
            counts = {k: len(v) for k, v in (changes or {}).items() if isinstance(v, list)}
            audit.record(session, "deployed", now, actor=by, process_id=row.process_id, version=row.version,
                         sha256=parsed.sha256, executable=row.executable, filename=filename, changes=counts or None)
            results.append(DeployResult(row.process_id, row.version, "deployed", row.name, row.executable,
                                        tuple(warnings)))
        return results

    # -- versions -------------------------------------------------------------------------------
    def migration_plans(self, session: Session, process_id: str, instance_ids: list[int] | None = None):
        """Dry run: for each running instance of an older version, whether it can move to the newest."""
        return instance_migration.plans(self, session, process_id, instance_ids)

    def migrate(self, session: Session, instance_id: int, by: str | None):
        """Move one running instance to its process's newest version (an audit event records it)."""
        return instance_migration.migrate(self, session, instance_id, by)

    # -- start ----------------------------------------------------------------------------------
    def start(self, session: Session, process_id: str, by: str | None, data: dict | None = None,
              version: int | None = None, business_key: str | None = None,
              started_at: datetime | None = None, run: bool = True) -> int:
        """Start an instance and run it until it waits; returns the instance id. With `run` false it is stored
        at its start, not run (a calendar period whose first steps failed: its timer job runs it, see scheduling)."""
        definition = stored.get_version(session, process_id, version)
        if not definition.executable:
            raise NotPermitted(say("starting.not_executable", process=process_id))
        if by is not None and not self.may_start(session, org.actor(session, by), definition):
            raise NotPermitted(say("starting.not_allowed", process=definition.name or process_id),
                               process_id=process_id)
        if data is not None and not isinstance(data, dict):
            raise ValidationFailed(say("starting.data_not_object"), [])
        problem = json_problem(data)
        if problem:
            raise ValidationFailed(say("starting.data_unsaved", problem=problem), [Problem(problem)])
        reserved = sorted(k for k in (data or {}) if k.startswith("_") or k in RESERVED_START_KEYS)
        if reserved:
            raise ValidationFailed(say("starting.system_fields", fields=", ".join(reserved)),
                                   [Problem(say("starting.system_field", field=k), field=k) for k in reserved])
        if business_key is not None and (not isinstance(business_key, str) or len(business_key) > 255
                                         or not business_key.isprintable()):
            raise ValidationFailed(say("starting.bad_key", n=255),
                                   [Problem(say("starting.key_invalid"), field="business_key")])
        if business_key and instances.by_business_key(session, process_id, business_key):
            raise StaleAction(say("starting.key_taken", process=process_id, key=business_key),
                              business_key=business_key)
        now = self.clock.now()
        start_time = (started_at or now).astimezone(COMPANY_TZ)
        initial = {**org.org_snapshot(session), "started_at": start_time.isoformat(), "started_by": by,
                   **(data or {})}
        spec, subprocess_specs = self._spec(definition)
        workflow = self.runtime.new_workflow(spec, subprocess_specs, initial)
        row = instances.add(session, definition_id=definition.id, process_id=process_id, version=definition.version,
                            status="running", state="{}", business_key=business_key, started_by=by, started_at=now)
        started = ("started", {"process_id": process_id, "version": definition.version, "business_key": business_key})
        if not run:
            audit.record_many(session, [started], now, by, row.id)
            # Due at once (next timer now): its timer job runs it on, and never takes it for one with nothing due.
            parts = self.runtime.dump_parts(workflow)
            instances.save_state(session, row, row.revision, parts.state, "running", now, None,
                                 batch=parts.batch, rewrite=parts.rewrite)
            return row.id
        self._advance_and_save(session, row, workflow, by, row.revision, leading_events=[started])
        return row.id

    # -- route ----------------------------------------------------------------------------------
    def actor(self, session: Session, login: str) -> Actor:
        return org.actor(session, login)

    def inbox(self, session: Session, login: str) -> list[HumanTask]:
        """The tasks assigned to `login` and the unclaimed tasks of their roles in their scopes."""
        return tasks.inbox(session, org.actor(session, login))

    def claim(self, session: Session, task_id: int, login: str | Actor) -> HumanTask:
        row, actor = tasks.get(session, task_id), self._who(session, login)
        login = actor.login
        if row.state == CLAIMED and row.assignee == login:
            return row
        self._check_can_act(session, actor, row)
        now = self.clock.now()
        if not tasks.transition(session, row, state=CLAIMED, assignee=login, claimed_at=now):
            self._changed_meanwhile(session, actor, row)
        audit.record(session, "claimed", now, actor=login, instance_id=row.instance_id, task_id=row.id)
        session.refresh(row)
        return row

    def unclaim(self, session: Session, task_id: int, login: str | Actor) -> HumanTask:
        row, actor = tasks.get(session, task_id), self._who(session, login)
        login = actor.login
        if not can_unclaim(actor, _task_ref(row)):
            raise NotPermitted(say("action.unclaim_not_holder") if row.state == CLAIMED else say("action.not_claimed"))
        now = self.clock.now()
        if not tasks.transition(session, row, state=OPEN, assignee=None, claimed_at=None):
            raise StaleAction(say("action.changed_refresh"))
        audit.record(session, "unclaimed", now, actor=login, instance_id=row.instance_id, task_id=row.id,
                     holder=row.assignee)
        session.refresh(row)
        return row

    def _changed_meanwhile(self, session: Session, actor: Actor, row: HumanTask | tasks.TaskRow) -> None:
        """Someone changed the task between our read and our write: say who, or ask for a retry."""
        self._check_can_act(session, actor, tasks.refreshed(session, row))
        raise StaleAction(say("action.changed"), task_id=row.id)

    def _check_can_act(self, session: Session, actor: Actor, row: HumanTask | tasks.TaskRow) -> None:
        if row.state == COMPLETED:
            who = org.get_user(session, row.completed_by).name if row.completed_by else "他人"
            when = row.completed_at.astimezone(COMPANY_TZ).strftime("%Y-%m-%d %H:%M:%S")
            raise StaleAction(say("action.completed_by", who=who, login=row.completed_by, when=when), task_id=row.id,
                              completed_by=row.completed_by, completed_at=row.completed_at.isoformat())
        holder = None
        if row.assignee and row.assignee != actor.login:
            holder = f"{org.get_user(session, row.assignee).name} ({row.assignee})"
        reason = why_not(actor, _task_ref(row), holder)
        if reason:
            raise (StaleAction if row.state not in ACTIVE_STATES else NotPermitted)(reason, task_id=row.id)

    # -- complete -------------------------------------------------------------------------------
    def complete(self, session: Session, task_id: int, login: str | Actor, data: dict) -> HumanTask | tasks.TaskRow:
        """Validate and submit a task's form, then run the process on until it waits again."""
        row, instance = tasks.get_with_instance(session, task_id)
        actor = self._who(session, login)
        login = actor.login
        self._check_can_act(session, actor, row)
        workflow = self._load(session, instance)
        task = find_task(workflow, row.task_guid)
        if task.state != TaskState.READY:  # someone finished it between our two reads: say who
            self._check_can_act(session, actor, tasks.refreshed(session, row))
            raise StaleAction(say("action.not_waiting"), task_id=row.id)
        values = validate_submission(row.form, data, task.data, self.sandbox, row.prefill)
        read, revision = instance.revision, instance.revision + 1  # locked since it was read: saved at the end
        now = self.clock.now()
        change = dict(state=COMPLETED, assignee=login, completed_by=login, completed_at=now, submitted=values)
        if not tasks.transition(session, row, **change):
            self._changed_meanwhile(session, actor, row)
        tasks.now_stored(row, **change)
        known = _known_active(workflow)
        if known is not None:
            known.pop(row.task_guid, None)
        self.runtime.complete_user_task(workflow, row.task_guid, values)
        completed = ("completed", {"task_id": row.id, "step": row.step, "name": row.name, "data": values})
        self._advance_and_save(session, instance, workflow, login, revision, leading_events=[completed],
                               read_revision=read)
        return row

    def save_draft(self, session: Session, task_id: int, login: str, data: dict) -> None:
        row, actor = tasks.get(session, task_id), org.actor(session, login)
        self._check_can_act(session, actor, row)
        row.draft = clean_draft(row.form, data)

    # -- instances ------------------------------------------------------------------------------
    def show(self, session: Session, instance_id: int) -> dict:
        instance = instances.get(session, instance_id)
        return {
            "instance_id": instance.id, "process_id": instance.process_id, "version": instance.version,
            "status": instance.status, "business_key": instance.business_key,
            "started_by": instance.started_by, "started_at": instance.started_at.isoformat(),
            "tasks": [human_task_dict(t) for t in tasks.for_instance(session, instance.id)],
            "events": [{"kind": e.kind, "actor": e.actor, "at": e.at.isoformat(), "detail": e.detail}
                       for e in audit.for_instance(session, instance.id)],
            "data": self.workflow_data(session, instance_id),
        }

    def workflow_data(self, session: Session, instance_id: int) -> dict:
        instance = instances.get(session, instance_id)
        workflow = self._load(session, instance, for_change=False)
        return (workflow.last_task or workflow.task_tree).data

    def path_taken(self, session: Session, instance_id: int) -> list[tuple[str, str]]:
        """The sequence flows the instance has gone along, as (source, target) element ids (the diagram's path)."""
        return taken_flows(self._load(session, instances.get(session, instance_id), for_change=False))

    def element_names(self, definition: ProcessDefinition) -> dict[str, str]:
        """Element id → name as drawn (e.g. "5 预测备案"), for telling what happened in words."""
        if not definition.executable:
            return {}
        spec, subprocess_specs = self._spec(definition)
        return {t.bpmn_id: t.bpmn_name for s in (spec, *subprocess_specs.values()) for t in s.task_specs.values()
                if getattr(t, "bpmn_id", None) and getattr(t, "bpmn_name", None)}

    # -- who may start --------------------------------------------------------------------------
    def may_start(self, session: Session, actor: Actor, definition: ProcessDefinition) -> bool:
        """Administrators, the process owner, and whoever holds the role of one of its lanes (in any scope)."""
        if not definition.executable:
            return False
        roles = self.roles_of(session, definition) | ({definition.owner} if definition.owner else set())
        return actor.is_admin or bool(roles & actor.roles)

    def roles_of(self, session: Session, definition: ProcessDefinition) -> set[str]:
        """The roles that do user tasks in a process (its lanes, through role aliases)."""
        if not definition.executable:
            return set()
        spec, subprocess_specs = self._spec(definition)
        roles = self._role_names(session, self.clock.now())
        lanes = {task.extensions.get("smflow:lane") for s in (spec, *subprocess_specs.values())
                 for task in s.task_specs.values() if getattr(task, "manual", False)
                 and getattr(task, "extensions", None) is not None}
        return {roles.for_lane(lane) for lane in lanes if lane}

    # -- internals ------------------------------------------------------------------------------
    @staticmethod
    def _who(session: Session, login: str | Actor) -> Actor:
        # A caller that has just read the actor (a web request has, in its own first query) passes it in.
        return login if isinstance(login, Actor) else org.actor(session, login)

    def forget_workflows(self) -> None:
        """Keep no workflow between units of work from here on: the next step of any instance reads it from the
        database, as in a process that never held it (after a restart, or another web process's instance)."""
        self._warm.clear()

    def _keep_warm(self, instance_id: int, revision: int, workflow) -> None:
        # Only after the unit of work that saved this revision has committed (unit_of_work.after_commit),
        # and keyed by it: a revision is taken by exactly one committed writer, so if the stored revision
        # is still this one the stored state is this workflow's; any other writer moved it on.
        self._warm[instance_id] = (revision, workflow)
        while len(self._warm) > WARM_WORKFLOWS:
            self._warm.pop(next(iter(self._warm)), None)

    def _role_names(self, session: Session, now: datetime) -> org.RoleNames:
        # Roles and their aliases change rarely (an administrator's edit); a minute of caching is fine.
        if self._roles is None or now - self._roles[0] > ROLE_CACHE_TTL or now < self._roles[0]:
            self._roles = (now, org.RoleNames(session))
        return self._roles[1]

    def _spec(self, definition: ProcessDefinition):
        cached = self._specs.get(definition.id)
        if cached is None:
            cached = self.runtime.load_spec(definition.spec_json)
            self._specs[definition.id] = cached
        return cached

    def _load(self, session: Session, instance: ProcessInstance | tasks.InstanceRow, for_change: bool = True):
        """The instance's workflow: from the warm cache when it holds the stored revision, else rebuilt."""
        if for_change:
            warm = self._warm.pop(instance.id, None)
            if warm is not None and warm[0] == instance.revision:
                return warm[1]
        cached = self._specs.get(instance.definition_id)
        spec, subprocess_specs = cached or self._spec(session.get(ProcessDefinition, instance.definition_id))
        workflow = self.runtime.load_state(instance.state, spec, subprocess_specs,
                                           lambda: instances.history(session, instance.id))
        if for_change and isinstance(instance, tasks.InstanceRow):
            workflow.smflow_active = dict(instance.active_with_state)  # read with the state: no query for them
        return workflow

    def _advance_and_save(self, session: Session, instance: ProcessInstance | tasks.InstanceRow, workflow,
                          actor: str | None, revision: int, retry_guid: str | None = None,
                          leading_events: list[tuple[str, dict]] = (), read_revision: int | None = None) -> None:
        """Run the workflow on, sync human tasks and save as `revision`: taken already by the caller, or
        the one after `read_revision` when the caller read the instance locked.

        The audit events of the step (`leading_events` first, e.g. the completion) are written together
        at the end, in the order they happened: one statement where there would be several."""
        now = self.clock.now()

        def waiting_retry() -> set[str]:
            return {job.task_guid for job in jobs.waiting(session, instance.id)} - {retry_guid}

        deferred: set[str] = set()

        def dispatch(task, topic, params):
            guid = str(task.id)
            if task.task_spec.extensions.get("smflow:async") and guid != retry_guid:
                deferred.add(guid)  # camunda:asyncBefore: the worker runs it as a job
                raise RunLater()
            # The job key is the task's, whichever attempt this is: effects written under it happen once.
            ctx = HandlerContext(session=session, instance_id=instance.id, process_id=instance.process_id,
                                 version=instance.version, element_id=task.task_spec.bpmn_id,
                                 step=task.task_spec.extensions.get("smflow:step"), actor=actor, now=now,
                                 business_key=instance.business_key, job_key=jobs.key_for(guid))
            # A savepoint per handler: a failing handler's own writes are undone, the unit of work goes on.
            savepoint = session.begin_nested()
            try:
                result = self.handlers(topic, ctx, params)
                session.flush()
            except SmflowError as exc:
                savepoint.rollback()
                raise exc if isinstance(exc, HandlerFailed) else HandlerFailed(exc.message, retryable=False) from exc
            except SQLAlchemyError as exc:
                savepoint.rollback()
                raise HandlerFailed(say("handler.database_failed", topic=topic, error=type(exc).__name__),
                                    retryable=False) from exc
            except Exception as exc:  # noqa: BLE001 - a handler bug must not lose the instance
                savepoint.rollback()
                raise HandlerFailed(say("handler.failed", topic=topic, error=f"{type(exc).__name__}: {exc}")) from exc
            savepoint.commit()
            return result

        try:
            advance = self.runtime.advance(workflow, dispatch, waiting_retry)
        except WorkflowError as exc:
            exc.context["instance_id"] = instance.id  # so the unit of work can record it after the rollback
            raise
        events = [*leading_events, *(("gateway", d) for d in advance.decisions),
                  *(("service_task", c) for c in advance.service_calls)]
        if advance.failures:  # retries and deferrals write rows of their own: the events before them go first
            audit.record_many(session, events, now, actor, instance.id)
            events = []
        for failure in advance.failures:
            if failure["task_guid"] in deferred:
                self.defer(session, instance.id, failure, now)
                continue
            audit.record(session, "error", now, actor=actor, instance_id=instance.id, **failure)
            self.schedule_retry(session, instance.id, failure, now)
        events += self._sync_tasks(session, instance, workflow, now)
        done = workflow.is_completed()
        if done:
            events.append(("instance_completed", {}))
        parts = self.runtime.dump_parts(workflow)
        instances.save_state(session, instance, revision, parts.state, "completed" if done else "running",
                             None if done else self.runtime.next_timer(workflow), now if done else None,
                             read_revision, parts.batch, parts.rewrite,
                             events=audit.rows(events, now, actor, instance.id))
        if not done:
            after_commit(session, lambda i=instance.id: self._keep_warm(i, revision, workflow))
        tasks.saved(session, instance)

    def _sync_tasks(self, session: Session, instance: ProcessInstance | tasks.InstanceRow, workflow,
                    now: datetime) -> list:
        """Add rows for newly ready user tasks, cancel those no longer waited for; their audit events."""
        active = _known_active(workflow)
        if active is None:
            active = tasks.active_guids(session, instance.id)
        ready, new = self.runtime.ready_work(workflow, active)  # only new tasks are described
        roles = self._role_names(session, now) if new else None
        rows = [dict(task_guid=item.guid, instance_id=instance.id, process_id=instance.process_id,
                     element_id=item.element_id, step=item.step, name=item.name, documentation=item.documentation,
                     lane=item.lane, role=roles.for_lane(item.lane), scope=item.scope, state=OPEN, due_at=item.due_at,
                     form=item.form, prefill=item.prefill, created_at=now) for item in new]
        ids = tasks.add_many(session, rows)
        created = [("task_created", {"task_id": task_id, "step": row["step"], "name": row["name"],
                                     "role": row["role"], "scope": row["scope"]})
                   for task_id, row in zip(ids, rows, strict=True)]
        gone = [task_id for guid, task_id in active.items() if guid not in ready]
        tasks.cancel(session, gone, now)
        # Kept with the workflow: when it is kept warm, its next step needs no query for them.
        workflow.smflow_active = {**{guid: task_id for guid, task_id in active.items() if guid in ready},
                                  **{row["task_guid"]: task_id for task_id, row in zip(ids, rows, strict=True)}}
        return created + [("task_cancelled", {"task_id": t}) for t in gone]


def _known_active(workflow) -> dict[str, int] | None:
    """The instance's open and claimed tasks (guid → task id) as of the revision this workflow was saved at, or
    read with its state; None for a workflow rebuilt from the database without them. Only a unit of work that
    takes a revision adds or ends tasks (claiming moves a task between two active states), so a warm
    workflow's list is the stored one."""
    return getattr(workflow, "smflow_active", None)


def check_file(engine: Engine, session: Session, data: bytes, filename: str | None):
    """See Engine.check: the file's own problems and its lanes' problems, reported together."""
    try:
        parsed, problems = bpmn_definitions.parse_bpmn(data, filename, known_topics=engine.handlers.topics), []
        message = None
    except ValidationFailed as exc:
        if not exc.problems or all(p.element_id is None for p in exc.problems):
            raise  # not readable as BPMN at all: lanes cannot be looked at
        parsed, problems, message = None, list(exc.problems), exc.message
    names, staffed = stored.lane_roles(session)
    lane_errors, warnings = lane_roles.lane_problems(load_xml(data, filename), names, staffed)
    if problems or lane_errors:
        if lane_errors or message is None:
            message = say("deploy.problems", count=len(problems) + len(lane_errors))
        raise ValidationFailed(message, problems + lane_errors, file=filename, warnings=warnings)
    return parsed, warnings


def human_task_dict(row: HumanTask) -> dict:
    return {
        "task_id": row.id, "instance_id": row.instance_id, "process_id": row.process_id, "step": row.step,
        "name": row.name, "role": row.role, "scope": row.scope, "state": row.state, "assignee": row.assignee,
        "due_at": row.due_at.isoformat() if row.due_at else None,
        "form": [{"id": f["id"], "label": f.get("label"), "type": f["type"], "required": bool(f.get("required")),
                  "options": [o["id"] for o in f.get("options", [])] or None}
                 for f in (row.form or {}).get("fields", [])],
        "completed_by": row.completed_by,
        "completed_at": row.completed_at.isoformat() if row.completed_at else None,
    }
