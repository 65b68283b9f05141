// Criterion writing: keyboard shortcuts. Drafts save themselves through htmx (hx-trigger on input).
(() => {
  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const submit = document.querySelector("form[data-submit]");
      if (submit) {
        event.preventDefault();
        // Let a pending autosave land first: htmx saves after 500 ms of quiet.
        setTimeout(() => submit.requestSubmit(), 700);
      }
    } else if (event.altKey && (event.key === "n" || event.key === "N")) {
      const add = document.querySelector("button[data-action=add]");
      if (add) {
        event.preventDefault();
        add.click();
      }
    }
  });
  // Focus the newest empty draft so a writer can type at once.
  const empty = Array.from(document.querySelectorAll("form.draft textarea")).find((t) => !t.value);
  if (empty) empty.focus();
})();
