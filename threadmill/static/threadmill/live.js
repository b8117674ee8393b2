/* Threadmill admin: live refresh, selection and select-all, without inline scripts or eval.
 *
 * An element with data-tm-refresh="<seconds>" gets a "tm-refresh" event (its hx-trigger)
 * at that interval while the tab is visible, and at once when the tab becomes visible again.
 * A region swapped in without the attribute (a task that finished) stops refreshing.
 * Checked task checkboxes survive the swap: their values are noted before htmx replaces the
 * region and checked again after.
 * A refresh that was redirected elsewhere (the session ended: the login page) is not pasted
 * into the region: refreshing stops and the page is reloaded, so the browser shows the
 * login page (the server also answers such a refresh with HX-Refresh).
 */
(function () {
  "use strict";

  var saved = new Map();
  var timers = new Map();
  var stopped = false;

  function liveElements() {
    return document.querySelectorAll("[data-tm-refresh]");
  }

  function refresh(el) {
    if (!stopped && window.htmx && document.visibilityState === "visible") {
      window.htmx.trigger(el, "tm-refresh");
    }
  }

  function schedule(el) {
    var seconds = parseFloat(el.getAttribute("data-tm-refresh"));
    if (!(seconds > 0) || timers.has(el)) { return; }
    var timer = window.setInterval(function () {
      if (!el.isConnected || !el.hasAttribute("data-tm-refresh")) {
        window.clearInterval(timer);
        timers.delete(el);
        return;
      }
      refresh(el);
    }, seconds * 1000);
    timers.set(el, timer);
  }

  function redirected(event) {
    var xhr = event.detail.xhr;
    var el = event.detail.elt;
    if (!xhr || !xhr.responseURL || !el || !el.getAttribute("hx-get")) { return false; }
    var asked = new URL(el.getAttribute("hx-get"), window.location.href).pathname;
    return new URL(xhr.responseURL, window.location.href).pathname !== asked;
  }

  function boxes(root) {
    return Array.prototype.slice.call(
      (root || document).querySelectorAll('input[type=checkbox][name="ids"]')
    );
  }

  function updateSelection() {
    var all = boxes();
    var checked = all.filter(function (b) { return b.checked; });
    all.forEach(function (b) {
      var row = b.closest("tr");
      if (row) { row.classList.toggle("selected", b.checked); }
    });
    document.querySelectorAll(".tm-select-all").forEach(function (toggle) {
      toggle.hidden = false;
      toggle.checked = all.length > 0 && checked.length === all.length;
      toggle.indeterminate = checked.length > 0 && checked.length < all.length;
    });
    document.querySelectorAll(".tm-selected-count").forEach(function (out) {
      out.hidden = false;
      out.textContent = checked.length + " of " + all.length + " selected";
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.classList && target.classList.contains("tm-select-all")) {
      boxes().forEach(function (b) { b.checked = target.checked; });
    }
    updateSelection();
  });

  document.addEventListener("htmx:beforeSwap", function (event) {
    if (redirected(event)) {
      event.detail.shouldSwap = false;
      stopped = true;
      timers.forEach(function (timer) { window.clearInterval(timer); });
      window.location.reload();
      return;
    }
    var el = event.detail.target;
    if (el && el.id) {
      saved.set(el.id, boxes(el).filter(function (b) { return b.checked; }).map(function (b) {
        return b.value;
      }));
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var el = event.detail.target;
    var values = el && el.id ? saved.get(el.id) : null;
    if (values && values.length) {
      boxes(document.getElementById(el.id) || el).forEach(function (b) {
        if (values.indexOf(b.value) !== -1) { b.checked = true; }
      });
    }
    updateSelection();
    liveElements().forEach(schedule);
    document.dispatchEvent(new CustomEvent("tm:refreshed", { detail: { id: el && el.id } }));
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { liveElements().forEach(refresh); }
  });

  function start() {
    document.querySelectorAll(".tm-js-only").forEach(function (el) { el.hidden = false; });
    liveElements().forEach(schedule);
    updateSelection();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
