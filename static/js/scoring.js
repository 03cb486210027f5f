/* The scoring page: every score and comment typed is saved, visibly being saved, or visibly not
 * saved, and leaving the page never drops one.
 *
 * Why not hx-trigger="change" on each cell: htmx queued every save of the page behind the one
 * before it (hx-sync on the form), so on a slow network the saves fell seconds behind the typing,
 * and leaving the page (the breadcrumb) threw the queue away: 24-31 of 38 cells were saved, with no
 * warning. Here every save still waiting or travelling is counted and shown, a link clicked
 * meanwhile waits for the saves before it leaves, closing or reloading the page asks first, and a
 * save that fails stays in its cell, marked, until it is retried. Typed values stay in
 * the page only, never in browser storage (classroom laptops are shared).
 * Keyboard moves between cells live in gradebook.js; the whole grid is also a plain form. */
(function () {
  "use strict";

  var MAX_COMMENT = 4000;
  var state = document.getElementById("save-state");
  if (!state) return;

  var entries = new Map(); // field name -> {want, busy, again, failed, invalid}
  // Saves go one after another, in the order typed: the undo stack is the order of the changes,
  // and a row's course grade comes back in order.
  var queue = Promise.resolve();
  var everSaved = false;
  var leavingTo = null;
  var number = new Intl.NumberFormat(document.documentElement.lang || undefined);

  function grid() {
    return document.getElementById("score-grid");
  }

  function isField(elt) {
    return elt && elt.matches && elt.matches("#score-grid input.score-input, #score-grid textarea.feedback-input");
  }

  function field(name) {
    return document.querySelector('#score-grid [name="' + name + '"]');
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function commentLength(value) {
    // As the server counts: surrounding spaces dropped, a line break one character, by code point.
    return Array.from(value.replace(/\r\n/g, "\n").trim()).length;
  }

  // --- The page's one state: saving, not saved, all saved -------------------------------------------

  function counts() {
    var saving = 0;
    var notSaved = 0;
    entries.forEach(function (entry) {
      if (entry.busy) saving += 1;
      else if (entry.failed || entry.invalid) notSaved += 1;
    });
    return { saving: saving, notSaved: notSaved };
  }

  function render() {
    var c = counts();
    state.textContent = "";
    state.className = "save-state";
    if (c.saving) {
      state.classList.add("is-saving");
      state.textContent = "Saving " + number.format(c.saving) + "…" + (leavingTo ? " (leaving when done)" : "");
    } else if (c.notSaved) {
      state.classList.add("is-failed");
      state.append(number.format(c.notSaved) + " not saved — ");
      var retry = document.createElement("button");
      retry.type = "button";
      retry.className = "button button--secondary";
      retry.textContent = "Retry";
      retry.addEventListener("click", retryAll);
      state.append(retry);
    } else if (everSaved) {
      state.classList.add("is-saved");
      state.textContent = "All saved";
    }
    if (leavingTo && !c.saving) {
      var to = leavingTo;
      leavingTo = null;
      if (!c.notSaved) window.location.assign(to);
    }
  }

  function retryAll() {
    entries.forEach(function (entry, name) {
      var input = field(name);
      if (input && (entry.failed || entry.invalid)) save(input, true);
    });
  }

  // --- Saving one field -------------------------------------------------------------------------------

  function mark(input, failed, text) {
    var td = input.closest("td");
    var msg = td && td.querySelector(".cell-msg");
    if (!td) return;
    td.classList.remove("is-saved", "is-failed", "is-error");
    if (failed) td.classList.add(failed);
    if (failed) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
    if (msg) msg.textContent = text;
  }

  function save(input, force) {
    var name = input.name;
    var entry = entries.get(name);
    if (!force && !entry && input.value === input.defaultValue) return; // nothing changed
    if (!force && entry && entry.busy && entry.want === input.value) return; // already on its way
    if (!entry) {
      entry = {};
      entries.set(name, entry);
    }
    entry.want = input.value;
    entry.failed = null;
    entry.invalid = false;
    if (name.indexOf("fb-") === 0 && commentLength(entry.want) > MAX_COMMENT) {
      // Refused here as the server would refuse it: never cut, never sent, never "Saved".
      entry.invalid = true;
      entry.message = tooLong(commentLength(entry.want));
      mark(input, "is-error", entry.message);
      render();
      return;
    }
    if (entry.busy) {
      entry.again = true;
      return;
    }
    entry.busy = true;
    mark(input, null, "Saving…");
    render();
    var url = name.indexOf("fb-") === 0 ? grid().dataset.commentUrl : grid().dataset.cellUrl;
    queue = queue.then(function () {
      return send(name, url);
    });
  }

  function send(name, url) {
    var entry = entries.get(name);
    var sent = entry.want;
    entry.again = false;
    entry.failed = null;
    entry.invalid = false; // this answer decides, not the one before
    var body = new URLSearchParams();
    body.set(name, sent);
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      // A score is a few bytes: let it finish even if the page is being left.
      keepalive: name.indexOf("c-") === 0,
      headers: { "HX-Request": "true", "X-CSRFToken": csrfToken() },
    })
      .then(function (response) {
        if (response.redirected) {
          // The session ended: the answer is the login page, and nothing was saved.
          entry.failed = "Not saved: you were signed out. Sign in in another tab, then retry.";
        } else if (response.ok || response.status === 422) {
          return response.text().then(function (html) {
            if (!swapIn(name, html, sent)) {
              entry.failed = "Not saved: the server's answer was not this cell. Retry.";
            } else if (response.ok) {
              everSaved = true;
            } else {
              entry.invalid = true;
              var msg = field(name) && field(name).closest("td").querySelector(".cell-msg");
              entry.message = msg ? msg.textContent : "";
            }
          });
        } else {
          entry.failed = "Not saved: the server answered " + response.status + ". Retry, or press Enter in the cell.";
        }
      })
      .catch(function () {
        entry.failed = "Not saved: no connection. Retry, or press Enter in the cell.";
      })
      .then(function () {
        var input = field(name);
        if (entry.again && input && !entry.failed) return send(name, url);
        entry.busy = false;
        if (entry.failed && input) mark(input, "is-failed", entry.failed);
        if (!entry.failed && !entry.invalid) entries.delete(name);
        render();
      });
  }

  // Put the server's cell (and its out-of-band pieces: the row's course grade, the undo button) in
  // place, keeping whatever the teacher typed into the cell since the value was sent.
  function swapIn(name, html, sent) {
    var before = field(name);
    var typedSince = before && before.value !== sent ? before.value : null;
    var focused = before && document.activeElement === before;
    var caret = focused ? [before.selectionStart, before.selectionEnd] : null;
    var template = document.createElement("template");
    template.innerHTML = html;
    var cell = before && before.closest("td");
    if (!cell || !template.content.getElementById(cell.id)) return false;
    // A copy: each element replaced into the page leaves the template's live list.
    Array.from(template.content.children).forEach(function (fresh) {
      var old = fresh.id && document.getElementById(fresh.id);
      if (!old) return;
      fresh.removeAttribute("hx-swap-oob");
      old.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
    });
    var after = field(name);
    if (!after) return true;
    if (typedSince !== null) {
      after.value = typedSince;
      if (!focused) {
        // Typed and left while the save travelled: send the newer value too.
        entries.get(name).again = true;
        entries.get(name).want = typedSince;
      } // still typing in it: it saves when the teacher leaves it (it differs from the saved value)
    }
    if (focused) {
      after.focus(); // (gradebook.js selects a score cell's text on focus: put the caret back)
      after.setSelectionRange(caret[0], caret[1]);
    }
    if (after.matches("textarea")) count(after);
    return true;
  }

  // --- Comments: the limit said while typing --------------------------------------------------------

  function tooLong(length) {
    return (
      "Not saved: " + number.format(length) + " characters; a comment holds at most " +
      number.format(MAX_COMMENT) + ". Shorten it by " + number.format(length - MAX_COMMENT) + " to save."
    );
  }

  function count(box) {
    var counter = document.getElementById(box.closest("td").id + "-count");
    if (!counter) return;
    var length = commentLength(box.value);
    var over = length > MAX_COMMENT;
    counter.textContent = number.format(length) + " / " + number.format(MAX_COMMENT) + (over ? " — too long" : "");
    counter.classList.toggle("is-over", over);
    if (over) box.setAttribute("aria-invalid", "true");
    else if (!box.closest("td").classList.contains("is-error")) box.removeAttribute("aria-invalid");
  }

  Array.prototype.forEach.call(document.querySelectorAll("#score-grid textarea.feedback-input"), count);

  document.addEventListener("input", function (event) {
    if (isField(event.target) && event.target.matches("textarea")) count(event.target);
  });

  // --- When to save: on leaving a cell (Enter, Tab, arrows, a click elsewhere) ---------------------

  document.addEventListener("change", function (event) {
    if (isField(event.target)) save(event.target, true);
  });
  document.addEventListener("focusout", function (event) {
    if (isField(event.target)) save(event.target, false);
  });

  // --- Keys: the first cell ready, the comment one key away ---------------------------------------

  // The page opens ready to type into the first cell (unless the teacher is already elsewhere).
  if (document.activeElement === document.body || !document.activeElement) {
    var first = document.querySelector("#score-grid input.score-input");
    if (first) first.focus({ preventScroll: true });
  }

  var commentOpener = null;
  document.addEventListener("keydown", function (event) {
    var t = event.target;
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    if (event.key === "End" && t.matches && t.matches("#score-grid input.score-input")) {
      // End: this student's comment, opened (it opens on focus), to write in.
      var box = t.closest("tr").querySelector("textarea.feedback-input");
      if (!box) return;
      event.preventDefault();
      commentOpener = t.name;
      box.focus();
      box.setSelectionRange(box.value.length, box.value.length);
    } else if (event.key === "Escape" && t.matches && t.matches("#score-grid textarea.feedback-input")) {
      // Esc: back to the score the teacher came from (the comment saves as it closes).
      event.preventDefault();
      var back = (commentOpener && field(commentOpener)) || t.closest("tr").querySelector("input.score-input");
      commentOpener = null;
      if (back) back.focus();
    }
  });

  // --- Leaving the page ---------------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[href]");
    if (!link || link.matches("[data-cell]") || link.target || event.defaultPrevented) return;
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.altKey || event.button !== 0) return;
    var active = document.activeElement;
    if (isField(active)) save(active, false);
    if (!counts().saving) return; // nothing in flight; a failed save is asked about by beforeunload
    event.preventDefault();
    leavingTo = link.href;
    render();
  });

  window.addEventListener("beforeunload", function (event) {
    var active = document.activeElement;
    var c = counts();
    var typing = isField(active) && active.value !== active.defaultValue && !entries.has(active.name);
    if (c.saving || c.notSaved || typing) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  // Fill and undo re-render the whole grid from the server: not while saves are on their way (the
  // grid would come back without them), and a value not saved is put back where it was typed.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt.closest && event.detail.elt.closest(".toolbar__form");
    if (form && counts().saving) event.preventDefault();
  });
  // After settling: htmx settles the class attributes of the new grid after the swap.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target.id !== "score-grid" && !grid().contains(event.detail.target)) return;
    entries.forEach(function (entry, name) {
      var input = field(name);
      if (!input || entry.busy) return;
      input.value = entry.want;
      mark(input, entry.failed ? "is-failed" : "is-error", entry.failed || entry.message || "Not saved.");
    });
    Array.prototype.forEach.call(document.querySelectorAll("#score-grid textarea.feedback-input"), count);
  });
})();
