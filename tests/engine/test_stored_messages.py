"""A message stored as text with its key beside it (errors.message_record) comes back as the Message it was, with
the Messages among its parameters, nested or in a list, after a round trip through JSON (how the audit trail and
a job keep it)."""

import json

from engine.errors import Message, message_record, stored_message
from engine.messages import chained, say


def test_a_message_with_messages_nested_and_in_a_list_comes_back_through_json():
    refused = [say("start_data.not_your_scope", key="office", value="华东/上海办事处"),
               say("start_data.not_your_scope", key="region", value="华东")]
    said = say("start_data.refused", problems=chained(refused, "start_data.and"),
               scopes=[say("start_data.company"), "华北"])
    back = stored_message(str(said), json.loads(json.dumps(message_record(said), ensure_ascii=False)))
    assert isinstance(back, Message) and str(back) == str(said) and back.code == "start_data.refused"
    chain = back.params["problems"]
    assert chain.code == "start_data.and" and chain.params["first"].params == {"key": "office",
                                                                                "value": "华东/上海办事处"}
    company, region = back.params["scopes"]
    assert (company.code, str(company), region) == ("start_data.company", "全公司", "华北")


def test_plain_text_has_no_record_and_stays_text():
    assert message_record("档案库维护中") is None
    assert type(stored_message("档案库维护中", None)) is str
    assert stored_message(None, {"code": "customers.no_name", "params": {}}) is None
