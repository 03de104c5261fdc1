"""E-mail goes out of an outbox after the notifying unit of work committed: a rolled-back notification is
never sent, a sent one never again, and people without an address or outside the role get nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from worker_helpers import HERE, WorkerDb

from engine import FixedClock, HandlerFailed, HandlerRegistry
from engine.clock import COMPANY_TZ
from engine.mailer import Mailer, SmtpSettings
from engine.store.models import MailOutbox, Notification, User
from handlers.notify import notify


def test_only_committed_notifications_are_mailed_once(sqlite_url, smtp):
    port, mailbox = smtp
    company = WorkerDb(sqlite_url, FixedClock(datetime(2027, 4, 2, 9, tzinfo=COMPANY_TZ)))

    def people(s):
        from engine.store import org

        for login, role, scope, email in [("planner", "计划部", "*", "planner@example.com"),
                                          ("quiet", "计划部", "*", None),
                                          ("rm", "大区经理", "华北", "rm@example.com")]:
            org.add_user(s, login, login, None)
            org.grant(s, login, role, scope)
            s.get(User, login).email = email
    company.tx(people)

    def notify_then_fail(ctx, **params):
        notify(ctx, role="计划部", message="不该发出的提醒")
        raise HandlerFailed("后续步骤失败", retryable=True)

    company.engine.handlers = HandlerRegistry({"notify": notify, "archive": notify_then_fail})
    bpmn = (HERE / "async_archive.bpmn").read_bytes().replace(b' camunda:asyncBefore="true"', b"")
    company.tx(lambda s: company.engine.deploy(s, bpmn, "a.bpmn", None))
    company.tx(lambda s: company.engine.start(s, "async_archive", None, {"n": 1}))
    assert company.tx(lambda s: s.scalars(select(Notification)).all()) == []  # rolled back with its handler
    assert company.tx(lambda s: s.scalars(select(MailOutbox)).all()) == []

    company.engine.handlers = HandlerRegistry({"notify": notify, "archive": lambda ctx, **p: notify(
        ctx, role="计划部", message="4 月预测请于 10 日前上报")})
    company.tx(lambda s: company.engine.start(s, "async_archive", None, {"n": 2}))
    assert mailbox.messages == []  # nothing is sent inside the unit of work
    (queued,) = company.tx(lambda s: s.scalars(select(MailOutbox)).all())
    assert (queued.address, queued.status) == ("planner@example.com", "pending")

    mailer = Mailer(SmtpSettings("127.0.0.1", port, "smflow@example.com"))
    assert company.tx(lambda s: mailer.send_batch(s, company.clock.now())) == (1, 0)
    assert company.tx(lambda s: mailer.send_batch(s, company.clock.now())) == (0, 0)
    assert mailbox.to("planner@example.com") == ["4 月预测请于 10 日前上报"]
    assert [rcpts for rcpts, _m in mailbox.messages] == [["planner@example.com"]]
    assert str(mailbox.messages[0][1]["From"]) == "smflow@example.com"
    company.db.dispose()
