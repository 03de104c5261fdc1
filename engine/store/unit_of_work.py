"""Running one unit of work in one transaction, retrying when it lost an optimistic-lock race."""

from __future__ import annotations

import random
import time
from typing import Callable, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from ..errors import Conflict

T = TypeVar("T")


def _is_lock_race(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower()
    return any(s in text for s in ("database is locked", "could not serialize", "deadlock detected"))


def in_transaction(session_factory: sessionmaker[Session], work: Callable[[Session], T], retries: int = 10) -> T:
    """Run `work(session)` and commit; a retryable Conflict (or a lock race) runs it again from scratch."""
    for attempt in range(retries):
        session = session_factory()
        try:
            result = work(session)
            session.commit()
            return result
        except Conflict as exc:
            session.rollback()
            if not exc.retryable or attempt == retries - 1:
                raise
        except (OperationalError, DBAPIError) as exc:
            session.rollback()
            if not _is_lock_race(exc) or attempt == retries - 1:
                raise
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
        time.sleep(random.uniform(0.001, 0.01 * (attempt + 1)))
    raise AssertionError("unreachable")
