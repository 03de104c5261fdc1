"""备案 handler: an inserted, never updated record whose sha256 is of the canonical JSON."""

import hashlib
import json

import pytest
from sqlalchemy import func, select

from engine.errors import HandlerFailed
from engine.handler_api import HandlerContext
from engine.store.models import ArchiveRecord
from handlers import default_registry
from handlers.archive import archive

DOCUMENT = {"period": "2027-06 至 2027-08", "plan": [{"region": "华北", "m1_amount": 12.5}], "备注": None}


def _ctx(session, clock, step="16"):
    return HandlerContext(session=session, instance_id=7, process_id="SM1_3", version=2, element_id="Task_16",
                          step=step, actor="planner", now=clock.now())


def _expected_sha(document) -> str:
    text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _count(sessions) -> int:
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(ArchiveRecord))


def test_archive_is_registered_under_its_topic():
    assert default_registry().get("archive") is archive


def test_archive_inserts_a_record_and_returns_its_id_under_the_kind(sessions, clock):
    with sessions() as s:
        result = archive(_ctx(s, clock), title="月度销售计划 2027-06", kind="monthly_plan", document=DOCUMENT)
        s.commit()
    assert list(result) == ["monthly_plan_archive_id"]
    with sessions() as s:
        record = s.get(ArchiveRecord, result["monthly_plan_archive_id"])
        assert (record.instance_id, record.process_id, record.version, record.step) == (7, "SM1_3", 2, "16")
        assert (record.kind, record.title, record.scope, record.archived_by) == (
            "monthly_plan", "月度销售计划 2027-06", "*", "planner")
        assert record.document == DOCUMENT
        assert record.archived_at == clock.now()
        assert record.archived_at.tzinfo is not None


def test_sha256_is_of_the_canonical_json_whatever_the_key_order(sessions, clock):
    reordered = {"备注": None, "plan": [{"m1_amount": 12.5, "region": "华北"}],
                 "period": "2027-06 至 2027-08"}
    with sessions() as s:
        first = archive(_ctx(s, clock), title="t", kind="k", document=DOCUMENT)["k_archive_id"]
        second = archive(_ctx(s, clock), title="t", kind="k", document=reordered)["k_archive_id"]
        s.commit()
    with sessions() as s:
        shas = {s.get(ArchiveRecord, i).sha256 for i in (first, second)}
    assert shas == {_expected_sha(DOCUMENT)}


def test_a_different_document_has_a_different_sha256(sessions, clock):
    with sessions() as s:
        archive_id = archive(_ctx(s, clock), title="t", kind="k", document={**DOCUMENT, "period": "2027-07"})
        s.commit()
    with sessions() as s:
        assert s.get(ArchiveRecord, archive_id["k_archive_id"]).sha256 != _expected_sha(DOCUMENT)


def test_archiving_again_inserts_a_new_row_and_leaves_the_first_unchanged(sessions, clock):
    with sessions() as s:
        first = archive(_ctx(s, clock), title="渠道销售预测 华北", kind="channel_forecast", scope="华北",
                        document={"offices": ["北京办事处"]})["channel_forecast_archive_id"]
        s.commit()
    clock.advance(days=1)
    with sessions() as s:
        second = archive(_ctx(s, clock), title="渠道销售预测 华北", kind="channel_forecast", scope="华北",
                         document={"offices": ["北京办事处", "天津办事处"]})["channel_forecast_archive_id"]
        s.commit()
    assert second != first
    with sessions() as s:
        old, new = s.get(ArchiveRecord, first), s.get(ArchiveRecord, second)
        assert old.document == {"offices": ["北京办事处"]}
        assert old.sha256 == _expected_sha({"offices": ["北京办事处"]})
        assert old.archived_at < new.archived_at
        assert new.scope == "华北"
    assert _count(sessions) == 2


@pytest.mark.parametrize("title, kind", [("", "monthly_plan"), ("月度销售计划", ""), (None, "monthly_plan")])
def test_missing_title_or_kind_is_refused_and_nothing_is_stored(sessions, clock, title, kind):
    with sessions() as s:
        with pytest.raises(HandlerFailed) as caught:
            archive(_ctx(s, clock), title=title, kind=kind, document=DOCUMENT)
        s.commit()
    assert caught.value.retryable is False
    assert "title" in caught.value.message and "kind" in caught.value.message
    assert _count(sessions) == 0


def test_a_document_that_is_not_json_is_refused_and_nothing_is_stored(sessions, clock):
    with sessions() as s:
        with pytest.raises(HandlerFailed) as caught:
            archive(_ctx(s, clock), title="t", kind="k", document={"when": {1, 2}})
        s.commit()
    assert caught.value.retryable is False
    assert "JSON" in caught.value.message
    assert _count(sessions) == 0
