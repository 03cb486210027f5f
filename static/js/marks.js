// The posting grid (marks/post.html): move between marks by keyboard like the scoring grid, mark
// a value that is not the computed one as it is typed, and never let typed marks go unnoticed:
// leaving the page with changes not posted asks first; the post button cannot send twice.
(function () {
  "use strict";
  var form = document.querySelector("form[data-posting]");
  if (!form) return;
  var dirty = false;
  var note = form.querySelector("[data-dirty-note]");

  function inputs() {
    return Array.prototype.slice.call(form.querySelectorAll("input.mark-input:not([readonly])"));
  }

  function go(input, rows, cols) {
    var td = input.closest("td");
    var tr = td.parentElement;
    var bodyRows = Array.prototype.slice.call(tr.parentElement.rows);
    var row = bodyRows[bodyRows.indexOf(tr) + rows];
    var cell = row && row.cells[td.cellIndex + cols];
    var next = cell && cell.querySelector("input.mark-input:not([readonly])");
    if (next) {
      next.focus();
      return true;
    }
    return false;
  }

  function flag(input) {
    var td = input.closest("td");
    var changed = input.value.trim().toUpperCase() !== (input.dataset.computed || "").toUpperCase();
    td.classList.toggle("is-override", changed);
  }

  form.addEventListener("input", function (event) {
    if (event.target.matches("input.mark-input")) flag(event.target);
    dirty = true;
    if (note) note.hidden = false;
  });

  form.addEventListener("focusin", function (event) {
    if (event.target.matches("input.mark-input")) event.target.select();
  });

  form.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.matches("input.mark-input")) return;
    var moves = { ArrowDown: [1, 0], ArrowUp: [-1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (event.key === "Enter" && !event.altKey && !event.ctrlKey && !event.metaKey) {
      // Enter moves down (Shift+Enter up) as in the scoring grid; it never posts the form.
      event.preventDefault();
      go(input, event.shiftKey ? -1 : 1, 0);
    } else if (moves[event.key]) {
      if (go(input, moves[event.key][0], moves[event.key][1])) event.preventDefault();
    } else if (event.key === "Escape") {
      input.value = input.defaultValue;
      flag(input);
      input.select();
    }
  });

  form.addEventListener("submit", function (event) {
    var button = form.querySelector("[data-post-button]");
    if (form.dataset.sending) {
      event.preventDefault(); // a double click posts once
      return;
    }
    form.dataset.sending = "1";
    dirty = false;
    if (button) button.setAttribute("aria-disabled", "true");
  });

  window.addEventListener("beforeunload", function (event) {
    if (!dirty) return;
    event.preventDefault();
    event.returnValue = "";
  });

  // Back to a page the browser kept: the form may hold what was typed, so compare again.
  window.addEventListener("pageshow", function () {
    delete form.dataset.sending;
    inputs().forEach(flag);
  });
})();
