// The "smflow" group of the properties panel: what the engine reads beyond Camunda's own attributes, edited
// in plain fields instead of the generic extension-property list.
//   user tasks:    smflow:step, smflow:scope (who in the organisation), smflow:due
//   service tasks: smflow:step and the handler (camunda:topic, chosen from the server's registered handlers)
//   other tasks:   smflow:step
//   the process:   smflow:owner (the role that may deploy and migrate)
// Values live in camunda:properties / camunda:property, as in the manual's files and in Camunda Modeler.

import { h } from '@bpmn-io/properties-panel/preact';
import {
  isSelectEntryEdited,
  isTextFieldEntryEdited,
  SelectEntry,
  TextFieldEntry
} from '@bpmn-io/properties-panel';
import { useService } from 'bpmn-js-properties-panel';
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

const PRIORITY = 200; // after the BPMN and Camunda providers, so the group can sit right after "General"

// -- camunda:property values -------------------------------------------------------------------------

function propertyLists(bo) {
  const ext = bo.get('extensionElements');
  return ext ? ext.get('values').filter((v) => is(v, 'camunda:Properties')) : [];
}

function findProperty(bo, name) {
  for (const list of propertyLists(bo)) {
    const found = list.get('values').find((p) => p.get('name') === name);
    if (found) { return found; }
  }
  return null;
}

export function getProperty(bo, name) {
  const found = findProperty(bo, name);
  return found ? found.get('value') || '' : '';
}

function update(element, moddleElement, properties) {
  return { cmd: 'element.updateModdleProperties', context: { element, moddleElement, properties } };
}

// One undoable step: create extensionElements / camunda:properties when missing, then set or remove the value.
export function setProperty(injector, element, bo, name, value) {
  const bpmnFactory = injector.get('bpmnFactory');
  const commands = [];
  const existing = findProperty(bo, name);
  if (!value) {
    if (existing) {
      const list = existing.$parent;
      commands.push(update(element, list, { values: list.get('values').filter((p) => p !== existing) }));
    }
  } else if (existing) {
    commands.push(update(element, existing, { value }));
  } else {
    let ext = bo.get('extensionElements');
    if (!ext) {
      ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
      ext.$parent = bo;
      commands.push(update(element, bo, { extensionElements: ext }));
    }
    let list = propertyLists(bo)[0];
    if (!list) {
      list = bpmnFactory.create('camunda:Properties', { values: [] });
      list.$parent = ext;
      commands.push(update(element, ext, { values: [ ...ext.get('values'), list ] }));
    }
    const property = bpmnFactory.create('camunda:Property', { name, value });
    property.$parent = list;
    commands.push(update(element, list, { values: [ ...list.get('values'), property ] }));
  }
  if (commands.length) {
    injector.get('commandStack').execute('properties-panel.multi-command-executor', commands);
  }
}

// -- entries -----------------------------------------------------------------------------------------

function propertyEntry(name, labelKey, hintKey, target) {
  return function PropertyField(props) {
    const { element, id } = props;
    const injector = useService('injector');
    const debounce = useService('debounceInput');
    const texts = useService('smflowTexts');
    const bo = target(element);
    return h(TextFieldEntry, {
      element, id, debounce,
      label: texts[labelKey],
      description: texts[hintKey],
      getValue: () => getProperty(bo, name),
      setValue: (value) => setProperty(injector, element, bo, name, (value || '').trim())
    });
  };
}

function TopicField(props) {
  const { element, id } = props;
  const modeling = useService('modeling');
  const texts = useService('smflowTexts');
  const topics = useService('smflowTopics');
  const bo = getBusinessObject(element);
  const getOptions = () => {
    const current = bo.get('camunda:topic');
    const known = topics.map((topic) => ({ value: topic, label: topic }));
    const extra = current && !topics.includes(current) ? [ { value: current, label: current + ' (?)' } ] : [];
    return [ { value: '', label: texts.topic_none }, ...known, ...extra ];
  };
  return h(SelectEntry, {
    element, id, getOptions,
    label: texts.topic,
    description: texts.topic_hint,
    getValue: () => bo.get('camunda:topic') || '',
    setValue: (value) => modeling.updateProperties(element, value ?
      { 'camunda:type': 'external', 'camunda:topic': value } : { 'camunda:topic': undefined })
  });
}

function processOf(element) {
  const bo = getBusinessObject(element);
  return is(element, 'bpmn:Participant') ? bo.get('processRef') : bo;
}

function entriesFor(element) {
  const itself = (e) => getBusinessObject(e);
  const step = (e) => ({ id: 'smflow-step', component: propertyEntry('smflow:step', 'step', 'step_hint', itself),
    isEdited: isTextFieldEntryEdited, element: e });
  if (is(element, 'bpmn:UserTask')) {
    return [
      step(element),
      { id: 'smflow-scope', component: propertyEntry('smflow:scope', 'scope', 'scope_hint', itself),
        isEdited: isTextFieldEntryEdited },
      { id: 'smflow-due', component: propertyEntry('smflow:due', 'due', 'due_hint', itself),
        isEdited: isTextFieldEntryEdited }
    ];
  }
  if (is(element, 'bpmn:ServiceTask')) {
    return [ { id: 'smflow-topic', component: TopicField, isEdited: isSelectEntryEdited }, step(element) ];
  }
  if (is(element, 'bpmn:Task') || is(element, 'bpmn:SubProcess') || is(element, 'bpmn:CallActivity')) {
    return [ step(element) ];
  }
  if ((is(element, 'bpmn:Process') || is(element, 'bpmn:Participant')) && processOf(element)) {
    return [ { id: 'smflow-owner', component: propertyEntry('smflow:owner', 'owner', 'owner_hint', processOf),
      isEdited: isTextFieldEntryEdited } ];
  }
  return [];
}

function SmflowPropertiesProvider(propertiesPanel, smflowTexts) {
  this.getGroups = function(element) {
    return function(groups) {
      const entries = entriesFor(element).map((entry) => ({ element, ...entry }));
      if (!entries.length) { return groups; }
      const general = groups.findIndex((group) => group.id === 'general');
      groups.splice(general + 1, 0, { id: 'smflow', label: smflowTexts.group, entries });
      return groups;
    };
  };
  propertiesPanel.registerProvider(PRIORITY, this);
}

SmflowPropertiesProvider.$inject = [ 'propertiesPanel', 'smflowTexts' ];

// `texts`: the group's labels in the page's language; `topics`: the handlers registered on the server.
export default function smflowPropertiesModule(texts, topics) {
  return {
    __init__: [ 'smflowPropertiesProvider' ],
    smflowPropertiesProvider: [ 'type', SmflowPropertiesProvider ],
    smflowTexts: [ 'value', texts ],
    smflowTopics: [ 'value', topics ]
  };
}
