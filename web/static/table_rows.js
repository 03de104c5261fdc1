// Editable tables: "添加一行" copies the row <template> (index placeholder __ROW__), "✕" removes a row, and the
// totals row (<output data-col>) follows what is typed. A table with fixed columns (data-fixed-rows) has the rows
// the process gave: the page draws no buttons for it, and nothing here adds or removes its rows.
// The server computes the same totals when it draws the page (engine/forms.py table_totals).
(function () {
  'use strict';

  function number(text) {
    var value = String(text || '').trim();
    if (!value || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(value)) { return null; }
    return Number(value);
  }

  function shown(total) {
    // 12.5 → "12.5", 0.1 + 0.2 → "0.3": six decimals at most, no trailing zeros (as the server shows them)
    return String(Math.round(total * 1e6) / 1e6);
  }

  function refresh(table) {
    if (!table || !table.hasAttribute('data-totals')) { return; }
    Array.prototype.forEach.call(table.querySelectorAll('tfoot output[data-col]'), function (output) {
      var col = output.getAttribute('data-col');
      var total = 0;
      Array.prototype.forEach.call(table.tBodies[0].querySelectorAll('td[data-col="' + col + '"]'), function (cell) {
        var input = cell.querySelector('input, select, textarea');
        var value = number(input ? input.value : cell.textContent);
        if (value !== null) { total += value; }
      });
      output.value = shown(total);
      output.textContent = shown(total);
    });
  }

  document.addEventListener('input', function (event) {
    refresh(event.target.closest('table[data-totals]'));
  });

  // A file over the limit is refused here, before it is sent: the server would refuse the whole post
  // (and the page with everything typed) when it is larger than a request may be.
  document.addEventListener('change', function (event) {
    var input = event.target;
    if (!input.matches || !input.matches('input[type=file][data-max-bytes]')) { return; }
    Array.prototype.forEach.call(input.parentNode.querySelectorAll('.error-msg.too-big'), function (old) {
      old.parentNode.removeChild(old);
    });
    if (!input.files.length || input.files[0].size <= Number(input.getAttribute('data-max-bytes'))) { return; }
    var message = document.createElement('p');
    message.className = 'error-msg too-big';
    message.setAttribute('role', 'alert');
    message.textContent = input.getAttribute('data-too-big').split('{name}').join(input.files[0].name);
    input.value = '';
    input.parentNode.appendChild(message);
  });

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
      if (row && !(owner && owner.hasAttribute('data-fixed-rows'))) {
        row.parentNode.removeChild(row);
        refresh(owner);
      }
    }
  });
})();
