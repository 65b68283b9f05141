// The new-project page: the slug follows the name until someone edits the slug by hand.
(function () {
  "use strict";

  function slugify(text) {
    return text
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9\s-]/g, "")
      .trim()
      .replace(/[\s-]+/g, "-")
      .slice(0, 80)
      .replace(/-+$/, "");
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("new-project");
    if (!form) return;
    const name = form.querySelector("input[name=name]");
    const slug = form.querySelector("input[name=slug]");
    if (!name || !slug) return;
    let typed = slug.value !== "" && slug.value !== slugify(name.value);
    slug.addEventListener("input", () => {
      typed = slug.value !== "";
    });
    name.addEventListener("input", () => {
      if (!typed) slug.value = slugify(name.value);
    });
  });
})();
