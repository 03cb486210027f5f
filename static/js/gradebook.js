/* Gradebook behaviour on top of htmx: keyboard-first score entry, the cell-detail dialog.
 * Everything here is an enhancement: every form also works without JavaScript. */
(function () {
  "use strict";

  // --- Score grids: move like a spreadsheet --------------------------------------------------------

  function cellInput(td) {
    return td ? td.querySelector("input.score-input, textarea.feedback-input") : null;
  }

  function neighbour(input, dRow, dCol) {
    var td = input.closest("td");
    var tr = td.parentElement;
    var rows = Array.prototype.slice.call(tr.parentElement.rows);
    var r = rows.indexOf(tr) + dRow;
    var c = td.cellIndex + dCol;
    while (r >= 0 && r < rows.length) {
      var cells = rows[r].cells;
      while (c >= 0 && c < cells.length) {
        var next = cellInput(cells[c]);
        if (next && !next.disabled) return next;
        if (dCol === 0) break;
        c += dCol;
      }
      if (dRow === 0) return null;
      r += dRow;
      c = td.cellIndex;
    }
    return null;
  }

  function go(input, dRow, dCol) {
    var next = neighbour(input, dRow, dCol);
    if (next) {
      next.focus();
      return true;
    }
    return false;
  }

  document.addEventListener("focusin", function (event) {
    var t = event.target;
    if (t.matches && t.matches("input.score-input")) t.select();
  });

  document.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.matches) return;
    if (input.matches("input.score-input")) {
      var td = input.closest("td");
      if (event.key === "Enter" && !event.altKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        if (td.classList.contains("is-failed")) {
          input.dispatchEvent(new Event("change", { bubbles: true }));
          return;
        }
        // Leaving the cell fires its change event, which saves it.
        if (!go(input, event.shiftKey ? -1 : 1, 0)) input.blur();
      } else if (event.key === "ArrowDown") {
        event.preventDefault();
        go(input, 1, 0);
      } else if (event.key === "ArrowUp") {
        event.preventDefault();
        go(input, -1, 0);
      } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        // Cells hold 1-3 characters: like a spreadsheet's entry mode, arrows move between cells.
        if (go(input, 0, event.key === "ArrowLeft" ? -1 : 1)) event.preventDefault();
      } else if (event.key === "Escape") {
        input.value = input.defaultValue;
        input.select();
      }
    } else if (input.matches("a[data-cell]") && input.closest("table.grid")) {
      var moves = { ArrowDown: [1, 0], ArrowUp: [-1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
      var move = moves[event.key];
      if (!move) return;
      var cell = input.closest("td");
      var rows = Array.prototype.slice.call(cell.parentElement.parentElement.rows);
      var row = rows[rows.indexOf(cell.parentElement) + move[0]];
      var target = row && row.cells[cell.cellIndex + move[1]];
      var link = target && target.querySelector("a[data-cell]");
      if (link) {
        event.preventDefault();
        link.focus();
      }
    }
  });

  // Keep the caret where it was when a cell the user is in gets swapped by its own response.
  var refocus = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var active = document.activeElement;
    var target = event.detail.target;
    refocus = active && target && target.contains(active) && active.name ? active.name : null;
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!refocus) return;
    var again = document.querySelector('[name="' + refocus + '"]');
    refocus = null;
    if (again) again.focus();
  });

  // A save that never reached the server: keep the value, say so, retry on Enter.
  function markFailed(event) {
    var elt = event.detail.elt;
    if (!elt || !elt.closest) return;
    var td = elt.closest("td.score-cell, td.feedback-cell");
    if (!td) return;
    td.classList.remove("is-saved");
    td.classList.add("is-failed");
    var msg = td.querySelector(".cell-msg");
    if (msg) msg.textContent = "Not saved: no connection. Press Enter to retry.";
  }
  document.addEventListener("htmx:sendError", markFailed);
  document.addEventListener("htmx:responseError", markFailed);

  // --- The cell-detail dialog ------------------------------------------------------------------

  var dialog = document.getElementById("cell-dialog");
  var changedInDialog = false;
  var opener = null;

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-cell]");
    if (!link || !dialog || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    var openerCell = link.closest("td");
    opener = openerCell && openerCell.id ? "#" + openerCell.id + " a[data-cell]" : null;
    var context = link.closest("[data-cell-context]");
    var url = new URL(link.href, window.location.href);
    if (context) url.searchParams.set("ctx", context.getAttribute("data-cell-context"));
    htmx.ajax("GET", url.pathname + url.search, { target: "#cell-dialog-body", swap: "innerHTML" }).then(function () {
      changedInDialog = false;
      if (!dialog.open) dialog.showModal();
      var heading = dialog.querySelector(".cell-detail__title");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
    });
  });

  if (dialog) {
    dialog.addEventListener("click", function (event) {
      if (event.target.closest("[data-close-dialog]")) dialog.close();
    });
    document.addEventListener("htmx:afterRequest", function (event) {
      if (dialog.contains(event.detail.elt) && event.detail.requestConfig.verb === "post") changedInDialog = true;
    });
    dialog.addEventListener("close", function () {
      var score = document.getElementById("score-grid");
      if (changedInDialog && score) {
        htmx.ajax("GET", window.location.pathname, { target: "#score-grid", swap: "outerHTML" });
      }
      changedInDialog = false;
      var back = opener && document.querySelector(opener);
      if (back) back.focus();
    });
  }
})();
