// Small behaviours of the pages, attached from a file (the CSP allows no inline script):
// elements with data-autosubmit submit their form when changed; data-print buttons print.
(function () {
  "use strict";
  document.querySelectorAll("[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { if (el.form) el.form.submit(); });
  });
  document.querySelectorAll("[data-print]").forEach(function (el) {
    el.addEventListener("click", function () { window.print(); });
  });
})();
