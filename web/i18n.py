"""Chinese first, English on request: the UI's strings, the language kept in the session, time display.

Messages that come from the engine (validation, permissions) and names from the BPMN files stay Chinese.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask, has_request_context, redirect, request, session, url_for

from engine.clock import COMPANY_TZ
from engine.routing import ANY

LANG_KEY = "lang"
LANGS = ("zh", "en")

# key: (中文, English)
STRINGS: dict[str, tuple[str, str]] = {
    "app.name": ("营销流程平台", "Sales & Marketing Workflows"),
    "nav.inbox": ("我的待办", "My tasks"),
    "nav.instances": ("流程实例", "Instances"),
    "nav.processes": ("流程与版本", "Processes"),
    "nav.logout": ("退出", "Log out"),
    "nav.switch_lang": ("English", "中文"),
    "auth.title": ("登录", "Log in"),
    "auth.login": ("登录名", "Login"),
    "auth.password": ("密码", "Password"),
    "auth.submit": ("登录", "Log in"),
    "auth.hint": ("请使用公司为您开设的账号登录。", "Use the account the company set up for you."),
    "auth.failed": ("登录名或密码不正确", "Wrong login or password"),
    "auth.logged_out": ("您已退出", "You have logged out"),
    "col.process": ("流程", "Process"),
    "col.step": ("步骤", "Step"),
    "col.scope": ("范围", "Scope"),
    "col.due": ("期限", "Due"),
    "col.claimed_by": ("认领人", "Claimed by"),
    "col.instance": ("实例", "Instance"),
    "col.status": ("状态", "Status"),
    "col.business_key": ("业务键", "Business key"),
    "col.role": ("角色", "Role"),
    "col.who": ("处理人", "By"),
    "col.when": ("时间", "When"),
    "col.event": ("事件", "Event"),
    "col.detail": ("详情", "Details"),
    "col.version": ("版本", "Version"),
    "col.name": ("名称", "Name"),
    "col.deployed": ("部署", "Deployed"),
    "col.started": ("发起", "Started"),
    "col.current": ("当前任务", "Current tasks"),
    "col.actions": ("操作", "Actions"),
    "col.element": ("元素", "Element"),
    "col.line": ("行", "Line"),
    "col.problem": ("问题", "Problem"),
    "col.file": ("文件", "File"),
    "col.owner": ("流程拥有者", "Owner"),
    "inbox.intro": ("这里是您已认领的任务, 以及您的角色与范围内尚未认领的任务。点击「处理」开始工作。",
                    "Your claimed tasks and the unclaimed tasks of your roles and scopes. "
                    "Click “Open” to start."),
    "inbox.empty": ("暂无待办任务", "No tasks for you right now"),
    "inbox.handle": ("处理", "Open"),
    "inbox.overdue": ("已逾期", "overdue"),
    "inbox.unclaimed": ("未认领", "unclaimed"),
    "inbox.notifications": ("通知", "Notifications"),
    "task.description": ("工作内容", "What to do"),
    "task.form": ("请填写", "Your input"),
    "task.claim": ("认领 (由我处理)", "Claim (I will do it)"),
    "task.unclaim": ("放回待办池", "Put back"),
    "task.submit": ("提交", "Submit"),
    "task.save_draft": ("保存草稿", "Save draft"),
    "task.claimed_flash": ("已认领任务「{name}」", "You claimed “{name}”"),
    "task.unclaimed_flash": ("已放回任务「{name}」, 同角色的同事可以处理",
                             "“{name}” is back in the shared list"),
    "task.draft_flash": ("草稿已保存", "Draft saved"),
    "task.done_flash": ("已提交「{name}」", "Submitted “{name}”"),
    "task.completed_by": ("该任务已由 {who} 于 {when} 完成", "This task was completed by {who} at {when}"),
    "task.claimed_by_other": ("该任务已由 {who} 认领", "This task is claimed by {who}"),
    "task.cancelled": ("该任务已取消 (流程已走到别处)", "This task was cancelled (the process moved on)"),
    "task.submitted_values": ("提交的内容", "Submitted values"),
    "task.fix_errors": ("表单有 {n} 处需要修改, 请查看标红的字段。您填写的内容都保留着。",
                        "The form has {n} problems, marked in red. Everything you typed is kept."),
    "task.add_row": ("添加一行", "Add row"),
    "task.remove_row": ("删除此行", "Remove row"),
    "task.fixed_rows": ("各行由流程给定, 不能增减; 灰底的列不能修改。",
                        "The process gives the rows: none can be added or removed; shaded columns cannot be changed."),
    "task.no_rows": ("流程没有给出需要填写的行。", "The process gave no rows to fill in."),
    "task.choose": ("请选择", "Choose"),
    "task.required": ("必填", "required"),
    "task.draft_shown": ("显示的是您保存的草稿", "Showing your saved draft"),
    "task.back": ("返回我的待办", "Back to my tasks"),
    "task.view_instance": ("查看流程实例", "View the instance"),
    "task.due": ("期限", "Due"),
    "state.open": ("待处理", "Open"),
    "state.claimed": ("已认领", "Claimed"),
    "state.completed": ("已完成", "Completed"),
    "state.cancelled": ("已取消", "Cancelled"),
    "status.running": ("进行中", "Running"),
    "status.completed": ("已结束", "Finished"),
    "status.cancelled": ("已取消", "Cancelled"),
    "yes": ("是", "Yes"),
    "no": ("否", "No"),
    "scope.all": ("全公司", "Company-wide"),
    "instances.empty": ("暂无您可查看的流程实例", "No instances you may see"),
    "instance.title": ("流程实例 {id}", "Instance {id}"),
    "instance.forbidden": ("您不是该流程实例的发起人, 也不持有其任何任务的角色与范围, 不能查看",
                           "You neither started this instance nor hold the role and scope "
                           "of any of its tasks"),
    "instance.diagram": ("流程图 (橙色: 当前任务; 绿色: 已完成)",
                         "Diagram (orange: current tasks; green: done)"),
    "instance.tasks": ("任务与处理人", "Tasks and who did them"),
    "instance.jobs": ("出错的服务任务 (流程在此等待)", "Failed service tasks (the process waits here)"),
    "instance.job_attempts": ("已重试 {n} 次", "{n} retries so far"),
    "instance.job_manual": ("需人工处理后重试", "needs a person, then a retry"),
    "instance.retry": ("立即重试", "Retry now"),
    "instance.retried_ok": ("已重试, 流程继续运行", "Retried; the process went on"),
    "instance.retried_failed": ("重试仍然失败, 请查看错误信息", "The retry failed again; see the error"),
    "instance.events": ("审计记录", "Audit trail"),
    "instance.data": ("流程数据", "Process data"),
    "instance.started_by": ("发起人", "Started by"),
    "event.started": ("发起流程", "started"),
    "event.task_created": ("生成任务", "task created"),
    "event.claimed": ("认领任务", "claimed"),
    "event.unclaimed": ("放回任务", "put back"),
    "event.completed": ("完成任务", "completed"),
    "event.gateway": ("网关决策", "gateway decision"),
    "event.service_task": ("服务任务", "service task"),
    "event.error": ("出错", "error"),
    "event.instance_completed": ("流程结束", "instance completed"),
    "event.task_cancelled": ("任务取消", "task cancelled"),
    "event.timer_fired": ("定时器触发", "timer fired"),
    "processes.empty": ("尚未部署任何流程", "No process has been deployed yet"),
    "processes.start": ("发起", "Start"),
    "processes.diagram": ("流程图", "Diagram"),
    "processes.download": ("下载 BPMN", "Download BPMN"),
    "processes.view_only": ("仅供查看", "view only"),
    "processes.upload": ("上传并部署 BPMN 文件", "Upload and deploy a BPMN file"),
    "processes.upload_hint": ("只有流程拥有者 (流程的 smflow:owner 角色) 和管理员可以部署新版本。"
                              "文件中的所有问题会一次列出。",
                              "Only a process's owner (its smflow:owner role) and administrators may deploy. "
                              "Every problem of a file is listed at once."),
    "processes.deploy": ("部署", "Deploy"),
    "processes.deploy_failed": ("文件「{file}」未部署: {message}", "“{file}” was not deployed: {message}"),
    "processes.deployed": ("{pid} 第 {version} 版: {status}", "{pid} version {version}: {status}"),
    "processes.status.deployed": ("已部署", "deployed"),
    "processes.status.unchanged": ("未变化 (与已部署的版本相同)", "unchanged (same as a deployed version)"),
    "processes.no_file": ("请选择一个 .bpmn 文件", "Choose a .bpmn file"),
    "processes.not_owner": ("只有「{owner}」或管理员可以部署流程 {pid}",
                            "Only “{owner}” or an administrator may deploy {pid}"),
    "processes.no_owner": ("流程 {pid} 没有指定拥有者, 只有管理员可以部署",
                           "{pid} has no owner: only administrators may deploy it"),
    "processes.not_executable": ("流程 {pid} 仅供查看 (isExecutable=false), 不能发起",
                                 "{pid} is for viewing only (isExecutable=false) and cannot be started"),
    "processes.cannot_start": ("只有持有流程 {pid} 某一泳道角色的人员 (或管理员) 可以发起该流程",
                               "Only holders of a role of one of {pid}'s lanes (or administrators) "
                               "may start it"),
    "processes.edit": ("编辑", "Edit"),
    "processes.new": ("新建流程", "New process"),
    "modeler.title": ("编辑流程: {name} 第 {version} 版", "Edit: {name} version {version}"),
    "modeler.new_title": ("新建流程", "New process"),
    "modeler.new_process": ("新流程", "New process"),
    "modeler.new_start": ("开始", "Start"),
    "modeler.forbidden": ("只有流程拥有者和管理员可以编辑流程",
                          "Only process owners and administrators may edit processes"),
    "modeler.new_forbidden": ("只有管理员可以新建流程", "Only administrators may create a process"),
    "modeler.empty": ("没有收到流程图内容", "No diagram was sent"),
    "modeler.validate": ("校验", "Validate"),
    "modeler.deploy": ("部署为新版本", "Deploy as new version"),
    "modeler.download": ("下载", "Download"),
    "modeler.back": ("返回流程图", "Back to the diagram"),
    "modeler.hint": ("右侧属性面板可编辑名称、泳道、表单 (表单字段与约束)、扩展属性 (smflow:step / scope / owner)、"
                     "实现 (外部任务的主题 topic)、输入/输出和多实例 (集合 / 元素变量)。"
                     "校验只检查不保存; 部署后生成新版本, 运行中的实例仍按原版本执行。",
                     "The properties panel on the right edits names, lanes, forms (fields and constraints), "
                     "extension properties (smflow:step / scope / owner), the external task's topic, inputs/outputs "
                     "and multi-instance. Validate only checks; deploying creates a new version, running instances "
                     "keep theirs."),
    "modeler.problems": ("问题列表 (点击定位到元素)", "Problems (click to show the element)"),
    "modeler.js.loading": ("正在加载流程图…", "Loading the diagram…"),
    "modeler.js.load_failed": ("流程图无法加载", "The diagram cannot be loaded"),
    "modeler.js.validating": ("正在校验…", "Validating…"),
    "modeler.js.valid": ("校验通过, 没有发现问题", "Valid: no problems found"),
    "modeler.js.problems": ("发现 {n} 处问题", "{n} problems found"),
    "modeler.js.deploying": ("正在部署…", "Deploying…"),
    "modeler.js.deployed": ("部署完成", "Deployed"),
    "modeler.js.deploy_failed": ("未部署", "Not deployed"),
    "modeler.js.dirty": ("有未保存的修改", "Unsaved changes"),
    "modeler.js.saved": ("没有未保存的修改", "No unsaved changes"),
    "modeler.js.no_element": ("图中没有该元素", "not in the diagram"),
    "modeler.js.line": ("第 {n} 行", "line {n}"),
    "modeler.js.open_diagram": ("查看流程图", "View diagram"),
    "modeler.js.open_edit": ("继续编辑新版本", "Edit the new version"),
    "modeler.js.network": ("请求失败", "Request failed"),
    "modeler.js.unsaved_leave": ("有未保存的修改, 确定离开吗?", "Leave with unsaved changes?"),
    "modeler.js.downloaded": ("已下载", "Downloaded"),
    "start.title": ("发起流程「{name}」", "Start “{name}”"),
    "start.business_key": ("业务键 (例如 2027 年度计划、2027-04)", "Business key (e.g. 2027-04)"),
    "start.version": ("版本", "Version"),
    "start.latest": ("最新", "latest"),
    "start.data": ("初始数据", "Initial data"),
    "start.data_hint": ("每行一项。值为数字、true/false 或 JSON 时按该类型保存, 否则按文字保存。",
                        "One item a row. Numbers, true/false and JSON keep their type; "
                        "anything else is text."),
    "start.key": ("名称", "Name"),
    "start.value": ("值", "Value"),
    "start.bad_key": ("「{key}」不能作为数据名称 (请用字母、数字和下划线, 不以数字开头)",
                      "“{key}” cannot be a data name (letters, digits and _, not starting with a digit)"),
    "start.submit": ("发起流程", "Start"),
    "start.started": ("已发起流程实例 {id}", "Started instance {id}"),
    "diagram.title": ("流程图: {name} 第 {version} 版", "Diagram: {name} version {version}"),
    "diagram.hint": ("滚动鼠标滚轮缩放, 按住拖动可平移。", "Scroll to zoom, drag to move."),
    "diagram.loading": ("正在加载流程图…", "Loading the diagram…"),
    "diagram.no_di": ("该文件没有图形信息 (bpmndi:BPMNDiagram), 无法绘制流程图; 流程本身可以正常运行。",
                      "This file has no diagram layout (bpmndi:BPMNDiagram); the process runs, "
                      "but it cannot be drawn."),
    "diagram.failed": ("流程图无法显示", "The diagram cannot be shown"),
    "error.400": ("请求无效", "Bad request"),
    "error.400.detail": ("请求无效, 请返回上一页重试", "The request was not valid; go back and try again"),
    "error.401": ("需要登录", "Login required"),
    "error.401.detail": ("请先登录", "Please log in first"),
    "error.403": ("无权操作", "Not permitted"),
    "error.403.detail": ("您没有权限访问该页面", "You may not open this page"),
    "error.404": ("找不到", "Not found"),
    "error.404.detail": ("您要找的页面或数据不存在", "The page or record does not exist"),
    "error.405": ("不支持的操作", "Method not allowed"),
    "error.405.detail": ("该页面不支持这个操作", "This page does not support that action"),
    "error.409": ("已被他人处理", "Already handled"),
    "error.409.detail": ("该内容刚被他人更改, 请刷新后重试",
                         "Someone else just changed this; reload and retry"),
    "error.413": ("文件过大", "File too large"),
    "error.413.detail": ("上传的内容过大 (上限 5 MiB)", "The upload is too large (limit 5 MiB)"),
    "error.422": ("内容需要修改", "Please correct the input"),
    "error.422.detail": ("提交的内容有问题", "The input has problems"),
    "error.500": ("系统错误", "Server error"),
    "error.500.detail": ("系统出错了, 请稍后重试或联系管理员",
                         "Something went wrong; retry later or call the administrator"),
    "error.csrf": ("页面已过期或安全令牌不符, 请返回并刷新页面后重试",
                   "The page expired or its security token did not match; go back, reload and retry"),
}


def current_lang() -> str:
    lang = session.get(LANG_KEY) if has_request_context() else None
    return lang if lang in LANGS else LANGS[0]


def t(key: str, /, **values) -> str:
    """The UI string `key` in the session's language (the key itself when unknown)."""
    pair = STRINGS.get(key)
    text = pair[LANGS.index(current_lang())] if pair else key
    return text.format(**values) if values else text


def localtime(value: datetime | None, with_time: bool = True) -> str:
    """A stored (UTC) time as company time, e.g. 2027-04-05 09:00."""
    if value is None:
        return ""
    return value.astimezone(COMPANY_TZ).strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")


def other_lang() -> str:
    return LANGS[1] if current_lang() == LANGS[0] else LANGS[0]


def lang_next() -> str:
    """Where the language switch returns to: this page, unless it answered a form (then the inbox)."""
    if request.method != "GET":
        return url_for("inbox.index")
    return request.full_path.rstrip("?")


def scope_label(scope: str | None) -> str:
    return t("scope.all") if scope in (None, "", ANY) else scope


bp = Blueprint("i18n", __name__)


@bp.post("/lang/<lang>")
def switch(lang: str):
    if lang in LANGS:
        session[LANG_KEY] = lang
    from .auth import safe_next

    return redirect(safe_next(request.form.get("next"), url_for("inbox.index")))


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(t=t, current_lang=current_lang, other_lang=other_lang, lang_next=lang_next,
                                 scope_label=scope_label)
    app.jinja_env.filters["localtime"] = localtime
