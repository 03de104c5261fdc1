"""can_act: the one pure rule for role-and-scope authorisation."""

from engine.routing import Actor, TaskRef, can_act, can_unclaim, scope_covers, why_not

RM_NORTH = Actor("rm_huabei", "华北经理", frozenset({("大区经理", "华北")}))
RM_EAST = Actor("rm_huadong", "华东经理", frozenset({("大区经理", "华东")}))
SALES_DIRECTOR = Actor("sd", "销售总监", frozenset({("销售总监", "*"), ("大区经理", "*")}))
ADMIN = Actor("admin", "管理员", frozenset({("admin", "*")}))


def task(role="大区经理", scope="华北", state="open", assignee=None):
    return TaskRef(role, scope, state, assignee)


def test_scope_paths():
    assert scope_covers("*", "华北/北京办事处")
    assert scope_covers("华北", "华北") and scope_covers("华北", "华北/北京办事处")
    assert not scope_covers("华北", "华北东")
    assert not scope_covers("华北/北京办事处", "华北")


def test_role_and_scope_must_both_match():
    assert can_act(RM_NORTH, task())
    assert can_act(RM_NORTH, task(scope="华北/天津办事处"))
    assert not can_act(RM_EAST, task())
    assert not can_act(RM_NORTH, task(role="销售总监", scope="*"))
    assert can_act(SALES_DIRECTOR, task())


def test_company_wide_tasks_need_a_company_wide_grant():
    assert not can_act(RM_NORTH, task(scope="*"))
    assert can_act(SALES_DIRECTOR, task(scope="*"))


def test_claimed_tasks_belong_to_their_holder():
    claimed = task(state="claimed", assignee="rm_huabei")
    assert can_act(RM_NORTH, claimed)
    assert not can_act(SALES_DIRECTOR, claimed)
    assert "已由" in why_not(SALES_DIRECTOR, claimed, "张三")


def test_finished_tasks_cannot_be_acted_on():
    assert not can_act(RM_NORTH, task(state="completed"))
    assert not can_act(RM_NORTH, task(state="cancelled"))


def test_admin_is_not_a_wildcard_role_but_may_unclaim():
    assert not can_act(ADMIN, task())
    claimed = task(state="claimed", assignee="rm_huabei")
    assert can_unclaim(ADMIN, claimed) and can_unclaim(RM_NORTH, claimed)
    assert not can_unclaim(SALES_DIRECTOR, claimed)


def test_why_not_explains_in_chinese():
    assert "华北" in why_not(RM_EAST, task()) and "大区经理" in why_not(RM_EAST, task())
    assert why_not(RM_NORTH, task()) is None
