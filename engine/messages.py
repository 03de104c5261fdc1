"""The Chinese texts of the messages a person reads in the web pages and the API (a form's validation, what
stops an action on a task, starting a process or moving an instance to a newer version, files sent with a
form, a link to what does not exist, why the sandbox refuses an expression), by the key the UI catalogues
know them by.

The engine says every message in Chinese; the key and parameters that a `Message` carries let the web layer
say it in the person's language (web/translations/en). The zh catalogue holds these same texts, which
tests/web/test_messages_in_english.py checks. Labels and names (from the BPMN, of people) are parameters and
stay as written.
"""

from __future__ import annotations

from .errors import Message

LIST_SEPARATOR = "、"  # the web layer joins a list parameter with its language's separator
TEXTS = {
    # reasons one after another (messages.chained): the sandbox's, a handler's
    "clauses.and": "{first}; {then}",
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
    "starting.data_not_object": "初始数据应为 JSON 对象",
    "starting.data_unsaved": "初始数据无法保存: {problem}",
    "starting.system_fields": "初始数据不能设置系统字段: {fields}",
    "starting.system_field": "'{field}' 由系统设置",
    "starting.bad_key": "业务键应为最多 {n} 个可见字符的文字",
    "starting.key_invalid": "业务键无效",
    # start data that would send work outside the starter's scopes (start_data.py)
    "start_data.not_your_scope": "初始数据「{key}」决定任务发往的组织范围, 其值 '{value}' 不在您的权限范围内",
    "start_data.and": "{first}; {then}",
    "start_data.refused": "{problems} (您的范围: {scopes}, 及其下级范围)",
    "start_data.company": "全公司",
    "start_data.no_scope": "无",
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
    # attachments a submission names (web/attachments.py)
    "attachment.not_this_tasks": "{label}: 附件 {id} 不是这个任务的文件, 请重新上传",
    "attachment.not_a_file": "{label}: 应为上传的文件, 或这个任务已有附件的编号 {{\"id\": 编号}}",
    "attachment.not_found": "没有编号为 {id} 的附件",
    "attachment.removed": "附件 {id} 已被清理: 它所属的任务已结束, 且流程中没有任何地方引用它",
    # what a link or a request names that does not exist, or that the person may not see (the same answer)
    "task.not_found": "没有编号为 {id} 的任务",
    "instance.not_found": "没有编号为 {id} 的流程实例",
    "process.not_found": "没有找到流程 '{process}', 请先部署",
    "process.version_not_found": "没有找到流程 '{process}' 的第 {version} 版, 请先部署",
    # the JSON API's request bodies, and complete/draft as multipart with files (web/api.py)
    "api.not_json": "请求体应为 JSON 对象 (Content-Type: application/json)",
    "api.start_body": "需要 process_id (文字), data (JSON 对象), version (整数或 null), "
                      "business_key (最多 {n} 字的文字或 null)",
    "api.no_data_part": "multipart 请求缺少 data 部分: "
                        "请把表单的值作为 JSON 对象放进名为 data 的文本部分 (没有值时写 {{}})",
    "api.data_not_json": "data 部分不是有效的 JSON: 第 {line} 行第 {column} 列 ({error})",
    "api.data_not_object": "data 部分应为 JSON 对象",
    "api.data_not_object_detail": "data 部分应为 JSON 对象 (字段 id: 值)",
    "api.no_file_field": "没有名为「{name}」的文件字段; {allowed}",
    "api.file_fields": "可以上传文件的字段: {fields}",
    "api.no_file_fields": "这个任务的表单没有可以上传文件的字段",
    "api.one_file_only": "{label}: 只能上传一个文件, 收到 {n} 个",
    "api.extra_part": "多余的部分「{name}」: 字段的值请写在 data 部分的 JSON 对象中",
    "api.parts_refused": "请求有 {count} 处不符合要求, 什么也没有保存",
    "api.form_unsaved": "表单有 {count} 处需要修改, 什么也没有保存",
    "api.draft_unsaved": "草稿有 {count} 处需要修改, 什么也没有保存",
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
    # what stops moving an instance to its process's newest version (instance_migration.py)
    "migration.newest_view_only": "流程 '{process}' 的最新版本仅供查看, 不能把实例迁移到该版本",
    "migration.ended": "流程实例 {id} 已结束, 不需要迁移",
    "migration.on_newest": "流程实例 {id} 已在第 {version} 版 (最新版本)",
    "migration.steps_missing": "流程实例 {id} 不能迁移到第 {version} 版: 新版本中没有它当前所在的步骤",
    "migration.step_missing": "当前步骤「{step}」在第 {version} 版中不存在",
    # what keeps a BPMN file from being deployed or validated (xml_safety.py, xsd.py, definitions.py, forms.py
    # parse_form, lane_roles.py); element ids and names, tags and the parser's own words are parameters
    "deploy.too_big": "文件过大 ({size} MiB), 上限为 5 MiB",
    "deploy.too_big_problem": "文件超过 5 MiB",
    "deploy.utf16": "不支持 UTF-16 编码的文件, 请保存为 UTF-8",
    "deploy.utf16_problem": "UTF-16 编码",
    "deploy.not_utf8": "文件不是 UTF-8 编码 (BPMN 文件请保存为 UTF-8)",
    "deploy.not_utf8_problem": "第 {byte} 字节不是合法的 UTF-8",
    "deploy.doctype": "文件包含 DOCTYPE 或实体声明, 出于安全原因被拒绝",
    "deploy.doctype_problem": "不允许 DOCTYPE / ENTITY",
    "deploy.not_xml": "文件不是格式正确的 XML",
    "deploy.xml_error": "XML 格式错误: {error}",
    "deploy.not_bpmn": "文件不符合 BPMN 2.0 规范 ({count} 处)",
    "deploy.xsd_error": "不符合 BPMN 2.0 规范: {error}",
    "deploy.wrong_root": "文件的根元素应为 bpmn:definitions, 而不是 {tag}",
    "deploy.no_process": "文件中没有任何流程 (bpmn:process)",
    "deploy.too_long": "{tag} 的 {attribute} 超过 {limit} 个字符",
    "deploy.lane_name_too_long": "泳道名称 (角色) 超过 64 个字符",
    "deploy.step_too_long": "smflow:step 超过 32 个字符",
    "deploy.problems": "文件中有 {count} 处引擎无法执行的内容",
    "deploy.unparsable": "无法解析该文件: {error}",
    "deploy.cannot_execute": "引擎不能执行{kind} ({tag})",
    "deploy.kind.sendTask": "发送任务",
    "deploy.kind.receiveTask": "接收任务",
    "deploy.kind.businessRuleTask": "业务规则任务 (DMN)",
    "deploy.kind.complexGateway": "复杂网关",
    "deploy.kind.eventBasedGateway": "事件网关",
    "deploy.kind.adHocSubProcess": "自由子流程",
    "deploy.kind.transaction": "事务子流程",
    "deploy.kind.messageEventDefinition": "消息事件",
    "deploy.kind.conditionalEventDefinition": "条件事件",
    "deploy.kind.compensateEventDefinition": "补偿事件",
    "deploy.kind.cancelEventDefinition": "取消事件",
    "deploy.kind.linkEventDefinition": "链接事件",
    "deploy.data_store": "引擎不支持数据存储 (dataStore)",
    "deploy.service_no_topic": '服务任务需要 camunda:type="external" 和 camunda:topic (处理程序名)',
    "deploy.unknown_topic": "没有名为 '{topic}' 的处理程序 (可用: {available})",
    "deploy.script_format": "只支持 Python 脚本, 不支持 '{format}'",
    "deploy.rejected": "{what}被沙箱拒绝: {reason}",
    "deploy.syntax_error": "{what}有语法错误: {error}",
    "deploy.what.condition": "条件",
    "deploy.what.script": "脚本",
    "deploy.what.timer": "定时器",
    "deploy.what.multi_instance": "多实例",
    "deploy.what.parameter": "参数 {name}",
    "deploy.what.form_rows": "表单字段 {field} 的 rows",
    "deploy.what.form_required_if": "表单字段 {field} 的 required_if",
    "deploy.input_parameter": "输入参数 '{name}' 只能是一个 Python 表达式 (不支持脚本/列表/映射)",
    "deploy.task_not_in_lane": "用户任务不在任何泳道中, 无法确定由哪个角色处理",
    "deploy.bad_cycle": "开始事件的周期无法读取: {error}",
    "deploy.lane_no_name": "泳道没有名称: 泳道名称就是处理其中任务的角色",
    "deploy.lane_unknown_role": "泳道「{lane}」不是已知的角色 (已知角色: {known})",
    "deploy.lane_unstaffed": "泳道「{lane}」的角色 {role} 目前没有任何用户, 其中的任务将无人处理",
    "deploy.form.no_id": "表单字段缺少 id",
    "deploy.form.bad_type": "表单字段 '{field}' 的类型 '{type}' 不受支持",
    "deploy.form.constraint_number": "字段 '{field}' 的约束 {name} 需要数字, 而不是 '{config}'",
    "deploy.form.unknown_constraint": "字段 '{field}' 的约束 '{name}' 不受支持",
    "deploy.form.no_columns": "表格字段 '{field}' 需要 columns 属性",
    "deploy.form.totals_not_number": "表格字段 '{field}' 的 totals 列 '{column}' 不是数字列",
    # why the expression sandbox refuses a condition, script or expression (sandbox.py), at deploy or while the
    # process runs; RestrictedPython's own reasons (English) are parameters
    "sandbox.expression_refused": "表达式不被允许: {errors}",
    "sandbox.script_refused": "脚本不被允许: {errors}",
    "sandbox.line": "Line {line}: {problem}",
    "sandbox.import": "import 语句不被允许",
    "sandbox.class": "class 定义不被允许",
    "sandbox.too_deep": "数据嵌套超过 {n} 层",
    "sandbox.too_big": "{what}过大 (超过 {n} 个字符/元素)",
    "sandbox.what.text": "要转换为文字的数据",
    "sandbox.what.formatted": "格式化的数据",
    "sandbox.what.result": "表达式的结果",
    "sandbox.what.script_data": "脚本留下的数据",
    "sandbox.cannot_modify": "脚本不能修改 {type} 对象",
    "sandbox.range": "range 过大",
    "sandbox.format_width": "格式宽度或精度过大 (上限 {limit})",
    "sandbox.sum": "sum 只能对数字求和",
    "sandbox.round": "round 的位数过大",
    "sandbox.timeout": "脚本运行超过 {seconds} 秒, 已被终止 (可能是死循环)",
    "sandbox.memory": "脚本占用的内存过多, 已被终止",
    "sandbox.allocated": "脚本生成的数据过多, 已被终止",
    "sandbox.pow_exponent": "幂运算的指数过大",
    "sandbox.pow_result": "幂运算的结果过大",
    "sandbox.repeat": "重复的序列过长",
    "sandbox.product": "乘积的数字过大",
    "sandbox.concat": "拼接的序列过长",
    "sandbox.shift": "移位的结果过大",
    "sandbox.operator": "不支持的运算 {op}",
    "sandbox.method": "不支持 {name}",
    "sandbox.padded": "填充后的文字过长",
    "sandbox.expandtabs": "展开制表符后的文字过长",
    "sandbox.replace": "替换后的文字过长",
    "sandbox.join": "连接后的文字过长",
    "sandbox.list_extend": "列表过长",
    "sandbox.to_bytes": "to_bytes 的长度过大",
    # what stops a process while it runs (runtime.py): the reason (a sandbox refusal, SpiffWorkflow's words) is a
    # parameter
    "runtime.failed": "流程运行出错: {reason}",
    "runtime.evaluation_failed": "{what} 计算失败: {reason}",
    "runtime.what.scope": "范围 smflow:scope",
    "runtime.what.form_rows": "表单 {field} 的 rows",
    "runtime.what.due": "期限 smflow:due",
    "runtime.bad_scope": "范围 smflow:scope 的值不是有效的范围: {value}",
    "runtime.bad_due": "期限 smflow:due 的值 '{value}' 不是日期时间或时长 (如 'P5D')",
    # a service task's handler that failed (engine.py, handlers/): stored with the error, shown in the reader's
    # language; a calculation's {reason} is one of the messages further down
    "handler.failed": "处理程序 '{topic}' 出错: {error}",
    "handler.database_failed": "处理程序 '{topic}' 写入数据库失败: {error}",
    "handler.archive_needs": "备案需要 title 和 kind",
    "handler.archive_not_json": "备案内容无法保存为 JSON: {error}",
    "handler.notify_needs": "通知需要 role 和 message",
    "handler.variance_failed": "无法计算费用预算差异: {reason}",
    "handler.consolidate_failed": "无法汇总销售预测: {reason}",
    "handler.rating_failed": "无法建议资信等级: {reason}",
    "customers.not_a_list": "customers 应为客户列表",
    "customers.too_long": "{name}: {key} 超过 {limit} 个字符",
    "customers.entry_without_name": "第 {n} 项应为含客户名称 (name) 的客户资料",
    "customers.bad_rating": "{name}: 资信等级 '{rating}' 无效 (应为 A/B/C/D)",
    "customers.new_status": "{name}: 新建客户的状态只能是 active, 收到 '{status}'",
    "customers.repeated": "{name}: 在本次登记中出现多次",
    "customers.already_active": "客户已在登记中 (状态 active): {names}",
    "customers.no_name": "第 {n} 项缺少客户名称",
    "customers.unknown": "登记中没有这些客户: {names}",
    "customers.two_ratings": "{name}: 同一客户给出了不同的资信等级 ({first}, {then})",
    "customers.cannot_register": "无法登记新客户: {problems}",
    "customers.cannot_freeze": "无法冻结客户: {problems}",
    "customers.cannot_rate": "无法更新客户资信: {problems}",
    "customers.bad_status": "客户状态 '{status}' 无效 (可用: {choices}, 或 {every} 表示全部)",
    "customers.bad_action": "客户登记不支持操作 '{action}' (可用: {choices})",
    "customers.list_only": "参数 status 和 region 只用于 list, 不用于 '{action}'",
    # the figures a calculation handler refuses (handlers/numbers.py, budget_variance, consolidate, credit_rating)
    "numbers.required": "{where}: 必填",
    "numbers.not_a_number": "{where}: 应为数字, 收到 '{value}'",
    "variance.threshold_not_share": "阈值应为比例 (例如 0.1 或 '10%'), 收到 '{value}'",
    "variance.threshold_negative": "阈值应为不小于 0 的比例, 收到 '{value}'",
    "variance.lines_not_list": "lines 应为费用行的列表",
    "variance.line_without_item": "第 {n} 行缺少费用项目 (item)",
    "variance.budget_of": "{item} 预算",
    "variance.actual_of": "{item} 实际发生",
    "variance.negative_budget": "{item} 预算: 不能为负数",
    "consolidate.not_list": "forecasts 应为办事处预测的列表",
    "consolidate.entry_not_object": "第 {n} 项应为办事处预测 (对象)",
    "consolidate.no_region": "办事处 '{office}' 缺少大区 (region)",
    "consolidate.forecast_not_table": "{office}: forecast 应为表格 (行的列表)",
    "consolidate.row_not_object": "{office} 第 {n} 行: 应为对象",
    "consolidate.row": "第 {n} 行",
    "consolidate.qty_of": "{office} / {row} 第{month}月数量",
    "consolidate.amount_of": "{office} / {row} 第{month}月金额",
    "credit.not_object": "评估数据应为一个对象 (项目: 数值)",
    "credit.negative": "{label} 不能为负数: {value}",
    "credit.founded_on_not_date": "成立日期应为日期 (例如 2015-03-01), 收到 '{value}'",
    "credit.licence_not_date": "{licence} 的有效期应为日期, 收到 '{value}'",
    "credit.licence": "证照",
    "credit.annual_sales": "年销售额",
    "credit.registered_capital": "注册资本",
    "credit.outlets": "销售网点数",
    "credit.years_in_business": "经营年限",
    "credit.payment_rate": "回款率",
    "credit.overdue_ratio": "逾期比例",
    "credit.payment_days": "平均回款天数",
}


def chained(messages: list, key: str) -> Message | str:
    """The messages as one, each joined to the next by the catalogue's `key` ("{first}; {then}" or the like), so
    that every one of them is still said in the reader's language."""
    first, *rest = messages
    return say(key, first=first, then=chained(rest, key)) if rest else first


def reason_of(exc: Exception) -> Message | str:
    """The Message an exception was raised with (a calculation's reason for refusing its figures), else its text."""
    said = exc.args[0] if len(exc.args) == 1 else None
    return said if isinstance(said, Message) else str(exc)


def say(code: str, **params) -> Message:
    """The message `code` in Chinese, carrying its key and parameters (a list parameter is a list of names)."""
    shown = {k: LIST_SEPARATOR.join(map(str, v)) if isinstance(v, (list, tuple)) else v for k, v in params.items()}
    return Message(TEXTS[code].format(**shown), code, params)
