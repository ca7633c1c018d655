// Inbox Health's own behaviour, kept out of inline attributes so a strict
// Content-Security-Policy can forbid inline script (and htmx's eval stays off).
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

  // A <select data-submit-on-change> submits its form when a choice is made with the
  // mouse or touch; with the keyboard (ArrowDown walks the options) it waits for the
  // form's own button, so browsing the options never navigates.
  var lastPointer = 0;
  document.addEventListener("pointerdown", function () { lastPointer = Date.now(); }, true);
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("select[data-submit-on-change]");
    if (select && select.form && Date.now() - lastPointer < 10000) select.form.requestSubmit();
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
    message.textContent = event.type === "htmx:sendError"
      ? "The server could not be reached. Check your connection and try again."
      : "The request did not go through. Reload the page and try again.";
    message.hidden = false;
    focusElement(message);
  }
  document.addEventListener("htmx:responseError", showRequestError);
  document.addEventListener("htmx:sendError", showRequestError);

  // Focus: after a person's htmx request swapped the banner, focus moves to its new
  // message (the first error when there is one), so a screen reader reads the answer;
  // after a page with a failed form loads, to the first error.
  function focusElement(el) {
    if (!el) return;
    if (!el.hasAttribute("tabindex") && !/^(A|BUTTON|INPUT|SELECT|TEXTAREA)$/.test(el.tagName)) {
      el.setAttribute("tabindex", "-1");
    }
    el.focus({ preventScroll: false });
  }
  function firstError(scope) {
    return scope.querySelector('[aria-invalid="true"]') ||
      scope.querySelector(".field-error:not([hidden]), .form-error:not([hidden])");
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    var from = event.detail && event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!from || from.id === "live-poller") return; // the live poll never moves focus
    var banner = document.getElementById("registration-banner");
    if (!banner || !from.closest || !from.closest("form")) return;
    if (event.detail.target && event.detail.target.id !== "registration-banner") return;
    answeredAt = Date.now();
    var err = firstError(banner);
    focusElement(err || banner.querySelector("h2"));
  });

  // Times: a <time datetime> with data-local gets the reader's local time and zone
  // after its relative text ("3 min ago · 14:05 CET").
  function localiseTimes(root) {
    var times = (root || document).querySelectorAll("time[datetime][data-local]");
    for (var i = 0; i < times.length; i++) {
      var t = times[i];
      if (t.querySelector(".local-time")) continue;
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) continue;
      var opts = { hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
      if (new Date().toDateString() !== d.toDateString()) {
        opts.day = "numeric"; opts.month = "short";
      }
      var span = document.createElement("span");
      span.className = "local-time";
      span.setAttribute("data-testid", "local-time");
      span.textContent = " · " + d.toLocaleString(undefined, opts);
      t.appendChild(span);
    }
  }

  // Live updates: the #live-poller element (see views.LivePoller) is asked every
  // data-live-interval seconds while the page is visible, and at once when it becomes
  // visible again. The banner is left alone while a person works in it (focus inside,
  // or something typed), so a poll never wipes a half-typed PIN or code.
  var poller = null, timer = null;
  // answeredAt is when the banner last showed the answer to this person's own click:
  // the poll leaves that answer up for a while before the stored state replaces it.
  var answeredAt = 0, answerShownFor = 30000;
  function bannerBusy() {
    var banner = document.getElementById("live-banner");
    if (!banner) return false;
    if (Date.now() - answeredAt < answerShownFor) return true;
    if (banner.contains(document.activeElement) && document.activeElement !== banner) return true;
    var fields = banner.querySelectorAll("input[type=password], input[name=code], input[name=pin], input[type=checkbox]");
    for (var i = 0; i < fields.length; i++) {
      if ((fields[i].type === "checkbox" && fields[i].checked) || (fields[i].type !== "checkbox" && fields[i].value)) return true;
    }
    return banner.querySelector(".htmx-request") !== null;
  }
  function poll() {
    if (!poller || document.hidden || !window.htmx) return;
    var parts = poller.getAttribute("data-live-parts").split(",");
    if (bannerBusy()) parts = parts.filter(function (p) { return p !== "#live-banner"; });
    // A part holding the keyboard focus (a link in the list, the Refresh button) is
    // left as it is, so a poll never throws a keyboard user back to the page's top.
    var active = document.activeElement;
    if (active && active !== document.body) {
      parts = parts.filter(function (p) {
        var el = document.querySelector(p);
        return !el || !el.contains(active);
      });
    }
    if (parts.length === 0) return;
    poller.setAttribute("hx-select-oob", parts.join(","));
    window.htmx.trigger(poller, "live-poll");
  }
  function schedule() {
    if (timer) clearInterval(timer);
    timer = null;
    if (!poller || document.hidden) return; // paused in hidden tabs
    var seconds = parseFloat(poller.getAttribute("data-live-interval")) || 10;
    timer = setInterval(poll, seconds * 1000);
  }
  function liveStatus(text) {
    var el = document.getElementById("live-status");
    if (!el) return;
    el.textContent = text || "";
    el.hidden = !text;
  }
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) poll();
    schedule();
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (event.target.id === "live-poller") {
      liveStatus("The server cannot be reached, so this page is not updating. It will update again once the connection is back.");
    }
  });
  document.addEventListener("htmx:responseError", function (event) {
    if (event.target.id === "live-poller") {
      liveStatus("The server did not answer this page's update. Reload the page to see the latest state.");
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.target.id === "live-poller" && event.detail.successful) liveStatus("");
  });
  document.addEventListener("htmx:afterSettle", function () { localiseTimes(document); });
  document.addEventListener("htmx:oobAfterSwap", function () { localiseTimes(document); });

  function start() {
    localiseTimes(document);
    poller = document.getElementById("live-poller");
    schedule();
    // A page that comes back with a refused form: focus its first error.
    var main = document.querySelector("main");
    var err = main && (main.querySelector('form [aria-invalid="true"]') ||
      main.querySelector('[data-testid="form-error"], [data-testid="list-problems"]'));
    if (err) focusElement(err);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
