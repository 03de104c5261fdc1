// Diagrams with marked elements, drawn by the bpmn-js navigated viewer (loaded by the page as window.BpmnJS):
// two versions side by side (added green, removed red, changed orange; panning one pans the other), and an
// uploaded file that was refused, with its problems marked at their elements.
// Each `.smflow-viewer` box gives its XML by URL (data-xml-url) or in a hidden textarea (data-xml-source),
// and its markers as {"marker-class": [element ids]} (data-marks).
// Bundled by esbuild with the modeler (`npm run build:modeler`) into web/static/build/modeler/.

function fail(box, text) {
  box.textContent = text;
  box.classList.add('failed');
}

async function source(box) {
  const inline = box.getAttribute('data-xml-source');
  if (inline) { return document.querySelector(inline).value; }
  const response = await fetch(box.getAttribute('data-xml-url'), { credentials: 'same-origin' });
  if (!response.ok) { throw new Error('HTTP ' + response.status); }
  return response.text();
}

async function draw(box) {
  if (typeof window.BpmnJS !== 'function') {
    fail(box, box.getAttribute('data-failed') + ' (bpmn-js: npm ci)');
    box.setAttribute('data-state', 'failed');
    return null;
  }
  box.textContent = '';
  const viewer = new window.BpmnJS({ container: box });
  try {
    await viewer.importXML(await source(box));
  } catch (error) {
    const noDiagram = /no diagram to display/.test(error.message);
    fail(box, noDiagram ? box.getAttribute('data-no-di') : box.getAttribute('data-failed') + ' (' + error.message + ')');
    box.setAttribute('data-state', noDiagram ? 'no-diagram' : 'failed');
    return null;
  }
  const registry = viewer.get('elementRegistry');
  const canvas = viewer.get('canvas');
  const marks = JSON.parse(box.getAttribute('data-marks') || '{}');
  const shown = [];
  Object.entries(marks).forEach(([ marker, ids ]) => {
    ids.forEach((id) => {
      drawnFor(registry, canvas, id).forEach((element) => {
        canvas.addMarker(element, marker);
        shown.push(element);
      });
    });
  });
  focus(canvas, shown);
  box.setAttribute('data-marked', String(shown.length));
  box.setAttribute('data-state', 'ready');
  return viewer;
}

// What shows an element: the element itself, or (for what is not drawn, e.g. a data store or the process of a
// pool) the drawn elements that refer to it.
function drawnFor(registry, canvas, id) {
  const root = canvas.getRootElement();
  const direct = registry.get(id);
  if (direct && direct !== root && !direct.labelTarget) { return [ direct ]; }
  return registry.filter((element) => {
    const bo = element.businessObject;
    if (!bo || element.labelTarget || element === root) { return false; }
    const references = ((bo.$descriptor && bo.$descriptor.properties) || []).filter((p) => p.isReference && !p.isMany);
    return references.some((p) => { const target = bo.get(p.name); return target && target.id === id; });
  });
}

// A whole manual process fitted into half a window is illegible: show the marked elements at a readable scale.
function focus(canvas, elements) {
  canvas.zoom('fit-viewport', 'auto');
  const shapes = elements.filter((e) => !e.waypoints && e.width && !e.labelTarget && e.type !== 'bpmn:Process' &&
    e.type !== 'bpmn:Participant' && e.type !== 'bpmn:Lane');
  if (!shapes.length || canvas.zoom() >= 0.7) { return; }
  const outer = canvas.viewbox().outer;
  const scale = 0.8;
  const width = outer.width / scale;
  const height = outer.height / scale;
  const left = Math.min(...shapes.map((s) => s.x));
  const top = Math.min(...shapes.map((s) => s.y));
  const right = Math.max(...shapes.map((s) => s.x + s.width));
  const bottom = Math.max(...shapes.map((s) => s.y + s.height));
  if (right - left > width || bottom - top > height) { return; }
  canvas.viewbox({ x: (left + right - width) / 2, y: (top + bottom - height) / 2, width, height });
}

// Panning or zooming one side moves the other the same way, so the same region is in view on both.
function follow(viewers) {
  let busy = false;
  viewers.forEach((viewer, index) => {
    viewer.on('canvas.viewbox.changed', ({ viewbox }) => {
      if (busy) { return; }
      busy = true;
      const other = viewers[1 - index];
      other.get('canvas').viewbox({ x: viewbox.x, y: viewbox.y, width: viewbox.width, height: viewbox.height });
      busy = false;
    });
  });
}

async function main() {
  const boxes = Array.from(document.querySelectorAll('.smflow-viewer'));
  const viewers = await Promise.all(boxes.map(draw));
  const pair = boxes.map((box, i) => (box.classList.contains('compare-viewer') ? viewers[i] : null)).filter(Boolean);
  if (pair.length === 2) {
    follow(pair);
  }
}

main();
