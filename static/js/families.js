/* The invitation form's child picker: a filter over the school's checkbox list of students, the
   chosen ones always in view and named above the list. Without JavaScript the plain list works. */
(function () {
  "use strict";
  var picker = document.querySelector("[data-child-picker]");
  if (!picker) return;
  var find = picker.querySelector("[data-child-find]");
  var count = picker.querySelector("[data-child-count]");
  var chosen = picker.querySelector("[data-child-chosen]");
  var options = Array.prototype.slice.call(picker.querySelectorAll("input[type=checkbox]"));
  picker.querySelector("[data-child-find-row]").hidden = false;

  function fold(text) {
    // "Núñez" is found by "nunez": accents and case do not matter when looking for a name.
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase();
  }
  function row(box) {
    return box.closest("div") || box.parentNode;
  }
  var texts = options.map(function (box) {
    return fold(row(box).textContent);
  });

  function update() {
    var words = fold(find.value).split(/\s+/).filter(Boolean);
    var shown = 0;
    var names = [];
    options.forEach(function (box, i) {
      var match = words.every(function (w) {
        return texts[i].indexOf(w) !== -1;
      });
      var visible = match || box.checked;
      row(box).hidden = !visible;
      if (visible) shown += 1;
      if (box.checked) names.push(row(box).textContent.trim());
    });
    count.textContent = words.length
      ? shown + " / " + options.length + " " + picker.getAttribute("data-shown-label")
      : "";
    chosen.textContent = names.length ? picker.getAttribute("data-chosen-label") + " " + names.join("; ") : "";
  }

  find.addEventListener("input", update);
  find.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    // Enter in the filter never sends the form: it picks the one child the filter found.
    event.preventDefault();
    var visible = options.filter(function (box) {
      return !row(box).hidden && !box.checked;
    });
    if (visible.length === 1) {
      visible[0].checked = true;
      find.value = "";
      update();
    }
  });
  picker.addEventListener("change", update);
  update();
})();
