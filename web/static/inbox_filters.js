// The inbox's filters apply as soon as a choice changes (the 筛选 button stays for keyboards and old browsers);
// choosing another process clears a step that belongs to the previous one.
(function () {
  'use strict';
  var form = document.getElementById('inbox-filters');
  if (!form) { return; }
  // On a phone the filters would push the tasks off the first screen: folded unless some are in use.
  var box = document.getElementById('filter-box');
  if (box && !box.hasAttribute('data-filtered') && window.matchMedia('(max-width: 720px)').matches) {
    box.open = false;
  }
  form.addEventListener('change', function (event) {
    if (event.target.id === 'filter-process') {
      var step = document.getElementById('filter-step');
      if (step) { step.value = ''; }
    }
    // Leave empty choices out of the address, so it stays short and readable.
    Array.prototype.forEach.call(form.querySelectorAll('select'), function (select) {
      select.disabled = !select.value || (select.name === 'sort' && select.value === 'due');
    });
    form.submit();
  });
  window.addEventListener('pageshow', function () {  // back from the next page: usable again
    Array.prototype.forEach.call(form.querySelectorAll('select'), function (select) { select.disabled = false; });
  });
})();
