"""The forecast process with files uploaded into its step 3, for the tests of removing uploads nothing uses.

tests/fixtures/forecast_review.bpmn: step 3 `fill` has an optional file field `basis`; step 4 approves or sends it
back, and step 3 then starts from the earlier answers, its file included. Files are stored as the task page stores
them (web/attachments.py `store_upload`): at once, in a unit of work of their own.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from engine.store import attachments, org, tasks
from engine.store.models import Attachment, Event

FORECAST = (Path(__file__).parent / "fixtures" / "forecast_review.bpmn").read_bytes()
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
ROWS = [{"product": "心脑血管", "qty": 120, "amount": 36.5}]
PEOPLE = {"bj": [("办事处", "华北/北京办事处")], "rm": [("大区经理", "华北")]}
# A timer on step 3 that ends the instance when nobody has done it for two days: the step is cancelled.
EXPIRES = ("<bpmn:userTask id=\"review\"", """<bpmn:boundaryEvent id="expired" name="两日未填" attachedToRef="fill">
      <bpmn:outgoing>f_expired</bpmn:outgoing>
      <bpmn:timerEventDefinition id="t_expired"><bpmn:timeDuration>'P2D'</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:boundaryEvent>
    <bpmn:endEvent id="dropped" name="作废"><bpmn:incoming>f_expired</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f_expired" sourceRef="expired" targetRef="dropped"/>
    <bpmn:userTask id="review\"""")


class Forecast:
    """The forecast process on a real database; files stored as the task page stores them (store_upload)."""

    def __init__(self, env, bpmn: bytes = FORECAST):
        self.env, self.engine = env, env.engine
        env.tx(self._people)
        env.tx(lambda s: self.engine.deploy(s, bpmn, "forecast_review.bpmn", "admin"))

    @staticmethod
    def _people(session) -> None:
        for login, grants in PEOPLE.items():
            org.add_user(session, login, login, None)
            for role, scope in grants:
                org.grant(session, login, role, scope)

    def start(self, key: str = "2027-04 月度销售预测") -> tuple[int, int]:
        instance_id = self.env.tx(lambda s: self.engine.start(
            s, "forecast_review", "bj", {"office": "华北/北京办事处", "target": 50.0}, None, key))
        return instance_id, self.open_task(instance_id)

    def open_task(self, instance_id: int) -> int:
        return self.env.tx(lambda s: tasks.active_for_instance(s, instance_id)[0].id)

    def upload(self, task_id: int, name: str) -> dict:
        def work(s):
            task = tasks.get(s, task_id)
            row = attachments.add(s, task_id=task.id, instance_id=task.instance_id, field="basis", filename=name,
                                  content_type="application/pdf", content=PDF, by="bj", at=self.env.clock.now())
            return {"id": row.id, "name": row.filename, "size": row.size}
        return self.env.tx(work)

    def fill(self, task_id: int, basis: dict | None = None) -> None:
        values = {"forecast": ROWS, **({"basis": basis} if basis else {})}
        self.env.tx(lambda s: self.engine.complete(s, task_id, "bj", values))

    def review(self, instance_id: int, decision: str) -> None:
        task_id = self.open_task(instance_id)
        self.env.tx(lambda s: self.engine.complete(s, task_id, "rm", {"decision": decision, "comment": "请补充"}))

    def sweep(self, after: int = 0, limit: int = attachments.UNUSED_BATCH, dry_run: bool = False):
        return self.env.tx(lambda s: self.engine.remove_unused_attachments(s, after, limit, dry_run))

    def removed_ids(self) -> list[int]:
        return [u.id for u in self.sweep().unused]

    def stored(self) -> set[int]:
        return set(self.env.tx(lambda s: s.scalars(select(Attachment.id)).all()))

    def events(self) -> list[Event]:
        return self.env.tx(lambda s: list(s.scalars(
            select(Event).where(Event.kind == "attachments_removed").order_by(Event.id))))

    def later(self, **delta) -> None:
        self.env.clock.advance(**delta)
