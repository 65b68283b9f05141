// Behaviour every page may use, loaded by base.html. The Content-Security-Policy allows no inline
// scripts or on* handlers, so markup asks for behaviour with data attributes instead.
(function () {
  "use strict";

  // Styles for pages without JavaScript hang on html.no-js (a <noscript> block would not do: htmx
  // parses swapped-in markup with scripting off, so its content would apply with JavaScript on too).
  document.documentElement.classList.remove("no-js");

  // <select data-autosubmit> (or any field): submit its form as soon as the value changes.
  document.addEventListener("change", (event) => {
    const field = event.target;
    if (!(field instanceof Element) || !field.hasAttribute("data-autosubmit") || !field.form) return;
    if (field.form.requestSubmit) field.form.requestSubmit();
    else field.form.submit();
  });
})();
