// Inbox Health's own behaviour, kept out of inline attributes so a strict
// Content-Security-Policy can forbid inline script.
(function () {
  "use strict";
  // A button with data-copy="#id" copies that element's text to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    });
  });

  // A <select data-submit-on-change> submits its form when a choice is made.
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("select[data-submit-on-change]");
    if (select && select.form) select.form.requestSubmit();
  });

  // A form with data-request-error="<data-testid>" whose htmx request failed (htmx
  // does not swap 4xx/5xx answers; or the network failed) shows a plain message in
  // the element with that data-testid inside the registration banner.
  function showRequestError(event) {
    var form = event.target.closest && event.target.closest("form[data-request-error]");
    if (!form) return;
    var scope = form.closest("#registration-banner") || document;
    var message = scope.querySelector('[data-testid="' + form.getAttribute("data-request-error") + '"]');
    if (!message) return;
    message.textContent = "The request did not go through. Reload the page and try again.";
    message.hidden = false;
  }
  document.addEventListener("htmx:responseError", showRequestError);
  document.addEventListener("htmx:sendError", showRequestError);
})();
