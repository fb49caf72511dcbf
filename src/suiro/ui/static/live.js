// suiro ui: live task states on a running run's page (server-sent events; no library).
// The page marks itself with data-events="/runs/<id>/events"; every element showing a task's
// state carries data-task="<key>" (the graph's boxes, the task table's rows). Names are
// compared as strings, never put into a selector or into HTML.
(function () {
  "use strict";
  var root = document.querySelector("[data-events]");
  if (!root || !window.EventSource) { return; }
  var source = new EventSource(root.getAttribute("data-events"));

  function itemsText(task) {
    var parts = [];
    Object.keys(task.items).sort().forEach(function (state) { parts.push(task.items[state] + " " + state); });
    var total = parts.length ? Object.values(task.items).reduce(function (a, b) { return a + b; }, 0) : 0;
    return total + " items" + (parts.length ? ": " + parts.join(", ") : "");
  }

  function setState(el, state) {
    el.className.baseVal !== undefined
      ? el.setAttribute("class", el.getAttribute("class").replace(/\bst-[a-z_]+/, "st-" + state))
      : (el.className = el.className.replace(/\bst-[a-z_]+/, "st-" + state));
  }

  function update(run) {
    var byKey = {};
    run.tasks.forEach(function (t) { byKey[t.task_key] = t; });
    document.querySelectorAll("[data-task]").forEach(function (el) {
      var task = byKey[el.getAttribute("data-task")];
      if (!task) { return; }
      setState(el, task.state);
      var isMap = Object.keys(task.items).length > 0;
      el.querySelectorAll(".sub, .task-state").forEach(function (cell) {
        cell.textContent = isMap && cell.classList.contains("sub") ? itemsText(task) : task.state;
      });
      el.querySelectorAll(".task-attempts").forEach(function (cell) { cell.textContent = task.attempts || ""; });
    });
    var state = document.getElementById("run-state");
    if (state) { state.textContent = run.state; setState(state, run.state); }
  }

  source.onmessage = function (event) { update(JSON.parse(event.data)); };
  source.addEventListener("end", function () {
    source.close();
    var note = document.getElementById("live-note");
    if (note) { note.hidden = false; }
  });
})();
