"""Running one unit of work in one transaction, retrying when it lost an optimistic-lock race."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import Conflict, WorkflowError
from . import audit

T = TypeVar("T")


def _is_lock_race(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(s in text for s in ("database is locked", "could not serialize", "deadlock detected"))


def _record_error(session_factory: sessionmaker[Session], exc: WorkflowError) -> None:
    """The failed unit of work was rolled back; the audit trail still says what went wrong."""
    instance_id = exc.context.get("instance_id")
    if instance_id is None:
        return
    with session_factory() as session:
        audit.record(session, "error", datetime.now(UTC), instance_id=instance_id,
                     element_id=exc.context.get("element_id"), error=exc.message)
        session.commit()


_AFTER_COMMIT = "smflow.after_commit"


def after_commit(session: Session, action: Callable[[], None]) -> None:
    """Run `action` once this unit of work has committed (never if it rolls back or is retried).

    Only units of work run by `in_transaction` run these; elsewhere they are dropped, so an action
    must be something that may be skipped safely (such as keeping a cache warm)."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


def in_transaction(session_factory: sessionmaker[Session], work: Callable[[Session], T], retries: int = 10) -> T:
    """Run `work(session)` and commit; a retryable Conflict (or a lock race) runs it again from scratch."""
    for attempt in range(retries):
        session = session_factory()
        try:
            result = work(session)
            session.commit()
            for action in session.info.pop(_AFTER_COMMIT, ()):
                action()
            return result
        except Conflict as exc:
            session.rollback()
            if not exc.retryable or attempt == retries - 1:
                raise
        except WorkflowError as exc:
            session.rollback()
            _record_error(session_factory, exc)
            raise
        except (OperationalError, DBAPIError) as exc:
            session.rollback()
            if not _is_lock_race(exc):
                raise
            if attempt == retries - 1:
                raise Conflict("系统繁忙, 请稍后重试") from exc
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")
