"""Scenario fixtures: the demo organisation and the manual's processes, driven through the engine API.

Every step of a scenario is one unit of work (`Env.tx`) followed by `Scenario.settle`, which rebuilds the
engine (`Env.restart()`, empty spec and workflow caches), so the next step reads the instance back from the
database.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from werkzeug.security import generate_password_hash

from engine.errors import NotPermitted
from engine.store.models import ArchiveRecord, Customer, HumanTask, Notification, ProcessInstance
from web.demo import MANUAL_FILES, demo_data, load_organisation, manual_file


@dataclass(frozen=True)
class Task:
    """What an inbox row says about a task, detached from any session."""

    id: int
    instance_id: int
    process_id: str
    element_id: str
    step: str | None
    name: str
    role: str
    scope: str
    state: str
    prefill: dict | None
    due_at: object


def _task(row: HumanTask) -> Task:
    return Task(row.id, row.instance_id, row.process_id, row.element_id, row.step, row.name, row.role, row.scope,
                row.state, row.prefill, row.due_at)


class Scenario:
    """The demo company on one database: find tasks in inboxes, act as people, read what happened."""

    def __init__(self, env):
        self.env = env
        env.tx(lambda s: load_organisation(s, demo_data(), env.clock.now()))
        for name in MANUAL_FILES:
            env.tx(lambda s, name=name: env.engine.deploy(s, manual_file(name), name, "admin"))

    @staticmethod
    def people(role: str, scope: str = "*") -> list[str]:
        """The demo users granted `role` in exactly `scope`."""
        return [u["login"] for u in demo_data()["users"]
                if any((g["role"], g.get("scope", "*")) == (role, scope) for g in u["grants"])]

    def who(self, role: str, scope: str = "*") -> str:
        """The first demo user granted `role` in `scope`."""
        return self.people(role, scope)[0]

    def tx(self, work):
        return self.env.tx(work)

    def settle(self, instance_id: int) -> None:
        """After a step: a new engine (empty caches) on the same database, as after a process restart."""
        self.env.restart()

    def start(self, process_id: str, login: str | None, data: dict | None = None) -> int:
        instance_id = self.tx(lambda s: self.env.engine.start(s, process_id, login, data))
        self.settle(instance_id)
        return instance_id

    def start_scheduled(self) -> list[int]:
        started = self.tx(lambda s: self.env.engine.start_scheduled(s))
        for instance_id in started:
            self.settle(instance_id)
        return started

    def inbox(self, login: str, instance_id: int | None = None, step: str | None = None) -> list[Task]:
        rows = self.tx(lambda s: [_task(t) for t in self.env.engine.inbox(s, login)])
        return [t for t in rows if (instance_id is None or t.instance_id == instance_id)
                and (step is None or t.step == step)]

    def open_tasks(self, instance_id: int) -> list[Task]:
        return self.tx(lambda s: [_task(t) for t in s.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state.in_(("open", "claimed")))
            .order_by(HumanTask.id))])

    def only(self, login: str, instance_id: int, step: str) -> Task:
        """The one task of `step` in `login`'s inbox (fails if there are none or several)."""
        found = self.inbox(login, instance_id, step)
        assert len(found) == 1, f"{login} should have exactly one step-{step} task, has {found}"
        return found[0]

    def take(self, login: str, instance_id: int, step: str, role: str, scope: str,
             outsiders: tuple[str, ...] = ()) -> Task:
        """The one task of `step` in `login`'s inbox: routed to (role, scope), and none of `outsiders` may touch it."""
        task = self.only(login, instance_id, step)
        assert (task.role, task.scope, task.state) == (role, scope, "open")
        for other in outsiders:
            self.refused(task, other)
        return task

    def refused(self, task: Task, login: str, data: dict | None = None) -> str:
        """`login` neither sees `task` nor may claim or complete it; returns the reason given."""
        assert task.id not in {t.id for t in self.inbox(login)}
        with pytest.raises(NotPermitted) as claiming:
            self.tx(lambda s: self.env.engine.claim(s, task.id, login))
        with pytest.raises(NotPermitted):
            self.tx(lambda s: self.env.engine.complete(s, task.id, login, data or {}))
        assert self.tx(lambda s: s.get(HumanTask, task.id).state) == "open"
        return claiming.value.message

    def complete(self, task: Task, login: str, data: dict) -> None:
        self.tx(lambda s: self.env.engine.complete(s, task.id, login, data))
        self.settle(task.instance_id)

    def fire_timers(self, instance_id: int) -> None:
        self.tx(lambda s: self.env.engine.fire_timers(s, instance_id))
        self.settle(instance_id)

    def due_timers(self) -> list[int]:
        return self.tx(lambda s: self.env.engine.due_timer_instances(s))

    def data(self, instance_id: int) -> dict:
        return self.tx(lambda s: self.env.engine.workflow_data(s, instance_id))

    def status(self, instance_id: int) -> str:
        return self.tx(lambda s: s.get(ProcessInstance, instance_id).status)

    def revision(self, instance_id: int) -> int:
        return self.tx(lambda s: s.get(ProcessInstance, instance_id).revision)

    def archive(self, instance_id: int) -> list[ArchiveRecord]:
        return self.tx(lambda s: list(s.scalars(select(ArchiveRecord).where(ArchiveRecord.instance_id == instance_id)
                                                .order_by(ArchiveRecord.id))))

    def notifications(self, instance_id: int) -> list[tuple[str, str, str]]:
        return self.tx(lambda s: [(n.role, n.scope, n.message) for n in s.scalars(
            select(Notification).where(Notification.instance_id == instance_id).order_by(Notification.id))])

    def customers(self) -> dict[str, Customer]:
        return self.tx(lambda s: {c.name: c for c in s.scalars(select(Customer))})


@pytest.fixture
def _one_password_hash(monkeypatch):
    """The ~60 demo users share one password: hash it once per run, not once per user and test."""
    monkeypatch.setattr("web.demo.generate_password_hash", _cached_password_hash)


_cached_password_hash = functools.cache(generate_password_hash)


@pytest.fixture
def demo(sqlite_env, _one_password_hash) -> Scenario:
    """The demo company on a SQLite file."""
    return Scenario(sqlite_env)


@pytest.fixture
def demo_any_db(env, _one_password_hash) -> Scenario:
    """The demo company on SQLite and on PostgreSQL (for a short path)."""
    return Scenario(env)
