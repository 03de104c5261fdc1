"""The Chinese texts of the messages a person reads in the web pages (a form's validation, what stops an
action on a task), by the key the UI catalogues know them by.

The engine says every message in Chinese; the key and parameters that a `Message` carries let the web layer
say it in the person's language (web/translations/en). The zh catalogue holds these same texts, which
tests/web/test_messages_in_english.py checks. Labels and names (from the BPMN, of people) are parameters and
stay as written.
"""

from __future__ import annotations

from .errors import Message

LIST_SEPARATOR = "、"  # the web layer joins a list parameter with its language's separator
TEXTS = {
    # what stops an action on a task (engine.py, routing.why_not)
    "action.done": "该任务已完成",
    "action.cancelled": "该任务已取消 (流程已走到别处)",
    "action.claimed_by": "该任务已由 {holder} 认领",
    "action.completed_by": "该任务已由 {who} ({login}) 于 {when} 完成",
    "action.not_yours": "该任务属于 {scope} 的「{role}」, 您没有该角色与范围的权限",
    "action.not_yours_company": "该任务属于 全公司 的「{role}」, 您没有该角色与范围的权限",
    "action.changed": "该任务的状态刚刚改变, 请刷新后重试",
    "action.changed_refresh": "该任务的状态刚刚改变, 请刷新",
    "action.not_waiting": "流程已不在等待该任务, 请刷新",
    "action.unclaim_not_holder": "只有认领人或管理员可以退回该任务",
    "action.not_claimed": "该任务未被认领",
    # what stops starting a process (engine.py start)
    "starting.not_executable": "流程 '{process}' 仅供查看 (isExecutable=false), 不能启动",
    "starting.not_allowed": "只有流程 '{process}' 的负责人、其泳道中的角色或管理员可以启动它",
    "starting.key_taken": "流程 '{process}' 已有业务键为 '{key}' 的实例",
    # a value that does not fit its field
    "form.required": "{label}: 必填",
    "form.not_text": "{label}: 应为文字",
    "form.invalid_chars": "{label}: 含有无效字符",
    "form.not_integer": "{label}: 应为整数, 收到 '{value}'",
    "form.out_of_range": "{label}: 数值超出范围",
    "form.not_number": "{label}: 应为数字",
    "form.not_number_got": "{label}: 应为数字, 收到 '{value}'",
    "form.not_finite": "{label}: 应为有限的数字, 收到 '{value}'",
    "form.not_boolean": "{label}: 应为 是/否",
    "form.not_date": "{label}: 应为日期 (例如 2027-04-10), 收到 '{value}'",
    "form.not_file": "{label}: 应为上传的文件",
    "form.not_option": "{label}: '{value}' 不是可选值 ({options})",
    "form.unknown_type": "{label}: 未知类型 {type}",
    "form.below_min": "{label}: 不能小于 {min}",
    "form.above_max": "{label}: 不能大于 {max}",
    "form.min_chars": "{label}: 至少需要 {n} 个字",
    "form.min_rows": "{label}: 至少需要 {n} 个行",
    "form.max_chars": "{label}: 最多 {n} 个字",
    "form.max_rows": "{label}: 最多 {n} 个行",
    # tables
    "form.cell": "{table} 第 {row} 行 {column}",
    "form.not_table": "{label}: 应为表格 (行的列表)",
    "form.too_many_rows": "{label}: 最多 {n} 行",
    "form.given_rows": "{label}: 应有 {n} 行 (各行由流程给定, 不能增减)",
    "form.unknown_columns": "{table} 第 {row} 行: 未知的列 {columns}",
    # the submission as a whole
    "form.unknown_field": "表单中没有字段 '{name}'",
    "form.not_object": "提交的数据应为一个对象",
    "form.not_object_detail": "提交的数据应为一个对象 (字段: 值)",
    "form.invalid": "表单有 {count} 处需要修改",
    # uploads
    "upload.empty": "{label}: 文件「{filename}」是空的",
    "upload.too_big": "{label}: 文件「{filename}」超过 {mb} MB 的上限",
    "upload.refused_type": "{label}: 不接受「{filename}」这种文件, 可以上传 {allowed}",
    "upload.wrong_content": "{label}: 文件「{filename}」的内容不是 {extension} 文件",
    "upload.not_utf8": "{label}: 文件「{filename}」不是 UTF-8 文本",
    # data kept as JSON (drafts, start data)
    "data.too_deep": "数据嵌套过深",
    "data.invalid_chars": "含有无效字符",
    "data.bad_number": "含有无效的数字 (NaN 或无穷大)",
    "data.out_of_range": "数值超出范围",
    "data.bad_type": "不能保存 {type} 类型的值",
    "data.too_big": "数据过大",
    "draft.not_object": "草稿应为一个对象",
    "draft.not_object_detail": "草稿应为一个对象 (字段: 值)",
    "draft.unsaved": "草稿无法保存: {problem}",
}


def say(code: str, **params) -> Message:
    """The message `code` in Chinese, carrying its key and parameters (a list parameter is a list of names)."""
    shown = {k: LIST_SEPARATOR.join(map(str, v)) if isinstance(v, (list, tuple)) else v for k, v in params.items()}
    return Message(TEXTS[code].format(**shown), code, params)
