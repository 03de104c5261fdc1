// The process owner's modeler page: bpmn-js with the Camunda 7 properties panel.
// It only edits the diagram and calls smflow's endpoints (validate, deploy); every check runs on the server.
// Bundled by esbuild (`npm run build:modeler`) into web/static/build/modeler/ with the CSS it imports.

import BpmnModeler from 'bpmn-js/lib/Modeler';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule
} from 'bpmn-js-properties-panel';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';

import smflowPropertiesModule from './smflow_properties';

import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import '@bpmn-io/properties-panel/dist/assets/properties-panel.css';
import './modeler_extra.css';

// Chinese labels for the palette, the context pad and the panel's main groups (anything else stays English).
const ZH = {
  'Activate hand tool': '手形工具 (拖动画布)', 'Activate lasso tool': '套索工具 (框选)',
  'Activate create/remove space tool': '插入/删除空间', 'Activate global connect tool': '连线工具',
  'Create start event': '创建开始事件', 'Create end event': '创建结束事件', 'Create task': '创建任务', 'Create gateway': '创建网关',
  'Create intermediate/boundary event': '创建中间/边界事件', 'Create expanded sub-process': '创建子流程',
  'Create pool/participant': '创建池', 'Create data object reference': '创建数据对象',
  'Create data store reference': '创建数据存储', 'Create group': '创建分组', 'Append task': '追加任务',
  'Append end event': '追加结束事件', 'Append gateway': '追加网关', 'Append intermediate/boundary event': '追加中间事件',
  'Add text annotation': '添加注释', 'Change element': '更改类型', 'Delete': '删除', 'Connect to other element': '连接到其他元素',
  'Connect using association': '用关联连接', 'Add lane above': '在上方添加泳道', 'Add lane below': '在下方添加泳道',
  'Divide into two lanes': '分为两个泳道', 'Divide into three lanes': '分为三个泳道', 'Search in diagram': '在图中搜索',
  'General': '常规', 'Name': '名称', 'ID': '编号', 'Documentation': '说明', 'Element documentation': '元素说明',
  'Process documentation': '流程说明', 'Executable': '可执行', 'Forms': '表单', 'Form fields': '表单字段', 'Form key': '表单键',
  'Type': '类型', 'Label': '标签', 'Default value': '默认值', 'Constraints': '约束 (validation)', 'Config': '配置',
  'Properties': '属性', 'Values': '选项', 'Value': '值', 'Extension properties': '扩展属性 (smflow:step / scope / owner)',
  'Implementation': '实现', 'Topic': '主题 (topic)', 'Inputs': '输入', 'Outputs': '输出', 'Local variable name': '变量名',
  'Assignment type': '赋值类型', 'Multi-instance': '多实例', 'Collection': '集合 (collection)',
  'Element variable': '元素变量 (elementVariable)', 'Loop cardinality': '循环次数', 'Completion condition': '完成条件',
  'Condition': '条件', 'Condition expression': '条件表达式', 'Expression': '表达式', 'Script': '脚本', 'Timer': '定时器',
  'Asynchronous continuations': '异步延续', 'Job execution': '作业执行', 'Execution listeners': '执行监听器',
  'Task listeners': '任务监听器', 'Field injections': '字段注入', 'Assignment': '分配', 'Process variables': '流程变量',
  'Process': '流程', 'Participant': '池 (参与者)', 'Lane': '泳道', 'Task': '任务', 'User Task': '用户任务', 'Service Task': '服务任务',
  'Script Task': '脚本任务', 'Manual Task': '人工任务', 'Call Activity': '调用活动', 'Expanded Sub Process': '子流程',
  'Collapsed Sub Process': '子流程 (折叠)', 'Exclusive Gateway': '排他网关', 'Parallel Gateway': '并行网关',
  'Inclusive Gateway': '包容网关', 'Start Event': '开始事件', 'Timer Start Event': '定时开始事件', 'End Event': '结束事件',
  'Terminate End Event': '终止结束事件', 'Timer Boundary Event': '定时边界事件',
  'Timer Boundary Event (Non Interrupting)': '定时边界事件 (不中断)', 'Timer Intermediate Catch Event': '定时中间事件',
  'Sequence Flow': '顺序流', 'Conditional Flow': '条件顺序流', 'Default Flow': '默认顺序流', 'Text Annotation': '注释',
  'Condition Expression': '条件表达式', 'External task': '外部任务', 'Errors': '错误', 'User assignment': '用户分配',
  'Asynchronous before': '之前异步', 'Asynchronous after': '之后异步', 'Inline script': '内联脚本', 'Result variable': '结果变量'
};

function translateModule(lang) {
  function translate(template, replacements) {
    const text = (lang === 'zh' && ZH[template]) || template;
    return text.replace(/{([^}]+)}/g, (match, key) => (replacements && key in replacements) ? replacements[key] : match);
  }
  return { translate: [ 'value', translate ] };
}

const page = document.getElementById('modeler-page');
const messages = JSON.parse(page.getAttribute('data-messages'));
const statusBox = document.getElementById('modeler-status');
const problemBox = document.getElementById('modeler-problems');
const problemList = problemBox.querySelector('ol');
const warningBox = document.getElementById('modeler-warnings');
const warningList = warningBox.querySelector('ol');
const buttons = {
  validate: document.getElementById('modeler-validate'),
  deploy: document.getElementById('modeler-deploy'),
  download: document.getElementById('modeler-download')
};
const lang = (document.documentElement.lang || 'zh').slice(0, 2);

const modeler = new BpmnModeler({
  container: '#modeler-canvas',
  propertiesPanel: { parent: '#modeler-properties' },
  additionalModules: [
    BpmnPropertiesPanelModule,
    BpmnPropertiesProviderModule,
    CamundaPlatformPropertiesProviderModule,
    CamundaBehaviorsModule,
    smflowPropertiesModule(JSON.parse(page.getAttribute('data-panel') || '{}'),
      JSON.parse(page.getAttribute('data-topics') || '[]')),
    translateModule(lang)
  ],
  moddleExtensions: { camunda: camundaModdle }
});
window.smflowModeler = modeler; // for the browser tests and for anyone debugging in the console

let dirty = false;

function say(text, kind) {
  statusBox.textContent = text;
  statusBox.className = 'modeler-status' + (kind ? ' ' + kind : '');
}

function format(template, values) {
  return template.replace(/{(\w+)}/g, (match, key) => (key in values ? values[key] : match));
}

function setDirty(value) {
  dirty = value;
  page.setAttribute('data-dirty', value ? 'true' : 'false');
}

function setBusy(busy) {
  Object.values(buttons).forEach((button) => { button.disabled = busy; });
}

// -- problems: a clickable list, the elements marked red -------------------------------------------

// A problem may name something that is not drawn (a form field, the process of a pool): show its owner.
function drawnElementFor(id) {
  const registry = modeler.get('elementRegistry');
  if (!id) { return null; }
  const direct = registry.get(id);
  if (direct) { return direct; }
  return registry.find((element) => {
    const bo = element.businessObject;
    if (!bo || element.labelTarget) { return false; }
    if (bo.processRef && bo.processRef.id === id) { return true; }
    return [ bo.extensionElements, bo.loopCharacteristics, bo.eventDefinitions ].some((part) => holdsId(part, id, new Set()));
  }) || null;
}

function holdsId(node, id, seen) {
  if (!node || typeof node !== 'object' || seen.has(node)) { return false; }
  seen.add(node);
  if (node.id === id) { return true; }
  return Object.keys(node).some((key) => key.charAt(0) !== '$' && holdsId(node[key], id, seen));
}

// Every element named by a problem gets a marker (red for errors, orange for warnings) and a badge overlay.
const MARKS = { error: 'smflow-problem', warning: 'smflow-warning' };
let marked = [];

function clearProblems() {
  const canvas = modeler.get('canvas');
  const registry = modeler.get('elementRegistry');
  marked.forEach(({ id, marker }) => { if (registry.get(id)) { canvas.removeMarker(id, marker); } });
  marked = [];
  modeler.get('overlays').remove({ type: 'smflow-problem' });
  [ problemList, warningList ].forEach((list) => { list.textContent = ''; });
  problemBox.hidden = true;
  warningBox.hidden = true;
}

function showElement(element) {
  modeler.get('selection').select(element);
  const canvas = modeler.get('canvas');
  const view = canvas.viewbox();
  const corners = element.waypoints ||
    [ { x: element.x, y: element.y }, { x: element.x + element.width, y: element.y + element.height } ];
  const xs = corners.map((point) => point.x);
  const ys = corners.map((point) => point.y);
  const box = { x: Math.min(...xs), y: Math.min(...ys), width: Math.max(...xs) - Math.min(...xs),
    height: Math.max(...ys) - Math.min(...ys) };
  // centred; zoomed out just enough when the element (a long flow) is larger than the view
  const factor = Math.max(1, (box.width + 200) / view.width, (box.height + 200) / view.height);
  const width = view.width * factor;
  const height = view.height * factor;
  canvas.viewbox({ x: box.x + box.width / 2 - width / 2, y: box.y + box.height / 2 - height / 2, width, height });
}

function badge(element, kind, count) {
  const html = document.createElement('div');
  html.className = 'smflow-badge ' + kind;
  html.setAttribute('data-element-id', element.id);
  html.textContent = messages[kind + '_badge'] + (count > 1 ? ' ×' + count : '');
  html.title = messages[kind + '_badge'];
  modeler.get('overlays').add(element.id, 'smflow-problem', { position: { top: -14, right: 14 }, html });
}

function listProblems(problems, kind, list) {
  const canvas = modeler.get('canvas');
  const counts = new Map();
  problems.forEach((problem) => {
    const element = drawnElementFor(problem.element_id);
    const item = document.createElement('li');
    item.className = 'problem-' + kind;
    const what = [ problem.element_name, problem.element_id ].filter(Boolean).join(' · ');
    const where = problem.line ? format(messages.line, { n: problem.line }) : '';
    const label = document.createElement(element ? 'button' : 'span');
    label.className = element ? 'link problem-element' : 'problem-element';
    label.textContent = what || '—';
    if (element) {
      label.type = 'button';
      label.setAttribute('data-element-id', element.id);
      label.addEventListener('click', () => showElement(element));
      counts.set(element, (counts.get(element) || 0) + 1);
    } else if (problem.element_id) {
      label.title = messages.no_element;
    }
    item.appendChild(label);
    if (where) {
      const line = document.createElement('span');
      line.className = 'muted problem-line';
      line.textContent = where;
      item.appendChild(line);
    }
    const message = document.createElement('span');
    message.className = 'problem-message';
    message.textContent = problem.message;
    item.appendChild(message);
    list.appendChild(item);
  });
  counts.forEach((count, element) => {
    canvas.addMarker(element.id, MARKS[kind]);
    marked.push({ id: element.id, marker: MARKS[kind] });
    badge(element, kind, count);
  });
}

function showProblems(problems, warnings) {
  clearProblems();
  listProblems(problems, 'error', problemList);
  listProblems(warnings || [], 'warning', warningList);
  problemBox.hidden = problems.length === 0;
  warningBox.hidden = !warnings || warnings.length === 0;
}

// -- talking to smflow -----------------------------------------------------------------------------

// The panel applies typing after a 300 ms pause: let a change typed just before a click arrive first.
let lastPanelInput = 0;
document.getElementById('modeler-properties').addEventListener('input', () => { lastPanelInput = Date.now(); });

async function currentXml() {
  const wait = lastPanelInput + 400 - Date.now();
  if (wait > 0) { await new Promise((resolve) => setTimeout(resolve, wait)); }
  const { xml } = await modeler.saveXML({ format: true });
  return xml;
}

async function post(url, xml) {
  const filename = page.getAttribute('data-filename');
  const target = filename ? url + '?filename=' + encodeURIComponent(filename) : url;
  const response = await fetch(target, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/xml', 'X-CSRF-Token': page.getAttribute('data-csrf'),
      'Accept': 'application/json' },
    body: xml
  });
  const type = response.headers.get('Content-Type') || '';
  if (!type.includes('application/json')) {
    throw new Error(messages.network + ' (HTTP ' + response.status + ')');
  }
  return response.json();
}

async function run(action) {
  setBusy(true);
  try {
    await action();
  } catch (error) {
    say(messages.network + ': ' + error.message, 'error');
  } finally {
    setBusy(false);
  }
}

function validate() {
  return run(async () => {
    say(messages.validating);
    const answer = await post(page.getAttribute('data-validate-url'), await currentXml());
    const warnings = answer.warnings || [];
    if (answer.ok) {
      showProblems([], warnings);
      if (warnings.length) {
        say(format(messages.valid_with_warnings, { n: warnings.length }), 'warning');
      } else {
        say(messages.valid, 'success');
      }
      page.setAttribute('data-validation', 'ok');
      return;
    }
    showProblems(answer.problems || [], warnings);
    // One count: the server's message has it (or ours does), the list below shows each problem.
    say((answer.message || format(messages.problems, { n: (answer.problems || []).length })) + ' — ' +
      messages.blocked, 'error');
    page.setAttribute('data-validation', 'problems');
  });
}

function link(text, href) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  return a;
}

function deploy() {
  return run(async () => {
    say(messages.deploying);
    const answer = await post(page.getAttribute('data-deploy-url'), await currentXml());
    if (!answer.ok) {
      showProblems(answer.problems || [], answer.warnings || []);
      say(messages.deploy_failed + ': ' + answer.message, 'error');
      page.setAttribute('data-validation', 'problems');
      return;
    }
    showProblems([], answer.warnings || []);
    setDirty(false);
    say('', 'success');
    answer.results.forEach((result) => {
      const line = document.createElement('div');
      line.className = 'deploy-result ' + result.status;
      line.setAttribute('data-version', result.version);
      line.setAttribute('data-status', result.status);
      line.append(result.message + ' — ', link(messages.open_diagram, result.diagram_url), ' · ',
        link(messages.open_edit, result.edit_url));
      if (result.compare_url) {
        line.append(' · ', link(messages.open_compare, result.compare_url));
      }
      statusBox.appendChild(line);
    });
    page.setAttribute('data-deployed', answer.results.map((r) => r.process_id + ':' + r.version).join(' '));
  });
}

function download() {
  return run(async () => {
    const blob = new Blob([ await currentXml() ], { type: 'application/xml' });
    const a = link('', URL.createObjectURL(blob));
    a.download = page.getAttribute('data-filename') || 'diagram.bpmn';
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    setDirty(false);
    say(messages.downloaded + ': ' + a.download, 'success');
  });
}

// -- wiring ----------------------------------------------------------------------------------------

buttons.validate.addEventListener('click', validate);
buttons.deploy.addEventListener('click', deploy);
buttons.download.addEventListener('click', download);

modeler.on('commandStack.changed', () => {
  setDirty(true);
  say(messages.dirty, 'warning');
});

window.addEventListener('beforeunload', (event) => {
  if (!dirty) { return; }
  event.preventDefault();
  event.returnValue = messages.unsaved_leave; // browsers show their own text; this only asks them to ask
});

// A whole manual process fitted into the window is too small to edit: start at a readable scale, top left.
function readableZoom() {
  const canvas = modeler.get('canvas');
  canvas.zoom('fit-viewport', 'auto');
  if (canvas.zoom() >= 0.7) { return; }
  const { inner, outer } = canvas.viewbox();
  const scale = 0.85;
  canvas.viewbox({ x: inner.x - 20, y: inner.y - 20, width: outer.width / scale, height: outer.height / scale });
}

async function load() {
  try {
    const response = await fetch(page.getAttribute('data-xml-url'), { credentials: 'same-origin' });
    if (!response.ok) { throw new Error('HTTP ' + response.status); }
    await modeler.importXML(await response.text());
    readableZoom();
    setDirty(false);
    say(messages.saved);
    setBusy(false);
    page.setAttribute('data-state', 'ready');
  } catch (error) {
    say(messages.load_failed + ': ' + error.message, 'error');
    page.setAttribute('data-state', 'failed');
  }
}

load();
