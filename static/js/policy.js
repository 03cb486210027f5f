/* The policy form shows only the fields of the chosen method and course-grade rule. Without
   JavaScript every field shows; hidden fields keep their values and are still sent. */
(function () {
  "use strict";
  var form = document.querySelector(".policy-form");
  if (!form) return;
  function update() {
    form.querySelectorAll("[data-shown-when]").forEach(function (field) {
      var chooser = form.elements[field.getAttribute("data-shown-when")];
      if (!chooser) return;
      var shown = field.getAttribute("data-shown-for").split(" ").indexOf(chooser.value) !== -1;
      field.hidden = !shown;
    });
  }
  form.addEventListener("change", function (event) {
    var name = event.target && event.target.name;
    if (name === "method" || name === "course_grade_rule") update();
  });
  update();
})();
