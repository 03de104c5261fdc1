// Draws a BPMN file with the bpmn-js navigated viewer and marks finished (green) and current (orange) elements, the
// sequence flows taken (blue) and, under each current step, who holds it. Names go in as text, never as HTML.
(function () {
  'use strict';
  var box = document.getElementById('diagram');
  if (!box) { return; }

  function fail(detail) {
    box.classList.add('failed');
    box.setAttribute('data-state', 'failed');
    box.textContent = box.getAttribute('data-failed') + (detail ? ' (' + detail + ')' : '');
  }

  if (typeof window.BpmnJS !== 'function') {
    fail('bpmn-js: npm ci');
    return;
  }
  box.textContent = '';
  var viewer = new window.BpmnJS({ container: box });

  function mark(ids, marker) {
    var registry = viewer.get('elementRegistry');
    var canvas = viewer.get('canvas');
    ids.forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, marker); }
    });
  }

  function markFlows(pairs) {
    var taken = {};
    pairs.forEach(function (pair) { taken[pair[0] + '\u0000' + pair[1]] = true; });
    var canvas = viewer.get('canvas');
    viewer.get('elementRegistry').filter(function (element) {
      return element.type === 'bpmn:SequenceFlow' && element.source && element.target &&
        taken[element.source.id + '\u0000' + element.target.id];
    }).forEach(function (flow) { canvas.addMarker(flow.id, 'smflow-taken'); });
  }

  function holders(map) {
    var overlays = viewer.get('overlays');
    var registry = viewer.get('elementRegistry');
    Object.keys(map).forEach(function (id) {
      var shape = registry.get(id);
      if (!shape) { return; }
      var note = document.createElement('div');
      note.className = 'smflow-holder';
      note.textContent = map[id];  // text only: a name can never become markup
      overlays.add(id, { position: { top: shape.height + 4, left: 0 }, html: note });
    });
  }

  // Large processes shrink to illegible when fitted: show the current tasks at a readable scale instead.
  function focus(ids) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var shapes = ids.map(function (id) { return registry.get(id); }).filter(Boolean);
    canvas.zoom('fit-viewport', 'auto');
    var outer = canvas.viewbox().outer;
    if (!shapes.length || canvas.zoom() >= 0.8) { return; }
    var scale = 0.9;
    var width = outer.width / scale, height = outer.height / scale;
    var left = Math.min.apply(null, shapes.map(function (s) { return s.x; }));
    var top = Math.min.apply(null, shapes.map(function (s) { return s.y; }));
    var right = Math.max.apply(null, shapes.map(function (s) { return s.x + s.width; }));
    var bottom = Math.max.apply(null, shapes.map(function (s) { return s.y + s.height; }));
    if (right - left > width || bottom - top > height) { return; }
    canvas.viewbox({ x: (left + right - width) / 2, y: (top + bottom - height) / 2, width: width, height: height });
  }

  fetch(box.getAttribute('data-xml-url'), { credentials: 'same-origin' })
    .then(function (response) {
      if (!response.ok) { throw new Error('HTTP ' + response.status); }
      return response.text();
    })
    .then(function (xml) { return viewer.importXML(xml); })
    .then(function () {
      var active = JSON.parse(box.getAttribute('data-active') || '[]');
      mark(JSON.parse(box.getAttribute('data-done') || '[]'), 'smflow-done');
      mark(active, 'smflow-active');
      markFlows(JSON.parse(box.getAttribute('data-flows') || '[]'));
      holders(JSON.parse(box.getAttribute('data-holders') || '{}'));
      focus(active);
      box.setAttribute('data-state', 'ready');
    })
    .catch(function (error) {
      // A file drawn without diagram interchange (no bpmndi:BPMNDiagram) still runs; say so plainly.
      if (/no diagram to display/.test(error.message)) {
        fail('');
        box.textContent = box.getAttribute('data-no-di');
        box.setAttribute('data-state', 'no-diagram');
        return;
      }
      fail(error.message);
    });
})();
