"""A message stored as text with its key beside it (errors.message_record) comes back as the Message it was, with
the Messages among its parameters, in lists too, after a round trip through JSON (how the audit trail and a
job keep it)."""

import json

from engine.errors import Message, message_record, stored_message
from engine.messages import say


def test_a_message_with_messages_in_a_list_parameter_comes_back_through_json():
    said = say("customers.cannot_register", problems=[say("customers.repeated", name="甲医药"),
                                                      say("customers.no_name", n=3)])
    record = json.loads(json.dumps(message_record(said), ensure_ascii=False))
    back = stored_message(str(said), record)
    assert isinstance(back, Message)
    assert str(back) == str(said) == "无法登记新客户: 甲医药: 在本次登记中出现多次、第 3 项缺少客户名称"
    assert back.code == "customers.cannot_register"
    first, second = back.params["problems"]
    assert (first.code, first.params) == ("customers.repeated", {"name": "甲医药"})
    assert str(first) == "甲医药: 在本次登记中出现多次"
    assert (second.code, second.params) == ("customers.no_name", {"n": 3})


def test_plain_text_has_no_record_and_stays_text():
    assert message_record("档案库维护中") is None
    assert type(stored_message("档案库维护中", None)) is str
    assert stored_message(None, {"code": "customers.no_name", "params": {}}) is None
