// Editable tables: "添加一行" copies the row <template> (index placeholder __ROW__), "✕" removes a row.
// A table with fixed columns (data-fixed-rows) has the rows the process gave: the page draws no buttons
// for it, and nothing here adds or removes its rows.
(function () {
  'use strict';
  document.addEventListener('click', function (event) {
    var add = event.target.closest('[data-add-row]');
    if (add) {
      var id = add.getAttribute('data-add-row');
      var table = document.getElementById('table-' + id);
      var template = document.getElementById('template-' + id);
      if (!table || !template || table.hasAttribute('data-fixed-rows')) { return; }
      var next = Number(table.getAttribute('data-next-row') || '0');
      table.setAttribute('data-next-row', String(next + 1));
      var html = template.innerHTML.split('__ROW__').join(String(next));
      var body = table.tBodies[0];
      body.insertAdjacentHTML('beforeend', html);
      var first = body.lastElementChild && body.lastElementChild.querySelector('input:not([type=hidden]), select, textarea');
      if (first) { first.focus(); }
      return;
    }
    var remove = event.target.closest('[data-remove-row]');
    if (remove) {
      var row = remove.closest('tr');
      var owner = row && row.closest('table');
      if (row && !(owner && owner.hasAttribute('data-fixed-rows'))) { row.parentNode.removeChild(row); }
    }
  });
})();
