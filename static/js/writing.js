// Criterion writing. Drafts save themselves through htmx 500 ms after the writer stops typing; this
// script makes sure nothing typed is lost: any other form on the page (add, delete, submit) first
// saves the drafts that changed, a failed save says so where "Saved" would be, and leaving the page
// with unsaved text asks first. Keys: Ctrl+Enter submits, Alt+N adds a criterion.
(() => {
  const drafts = () => Array.from(document.querySelectorAll("form.draft"));
  const dirty = new Set();

  const status = (form, text, bad) => {
    const span = form.querySelector(".draft-status");
    if (!span) return;
    span.textContent = text;
    span.classList.toggle("error", Boolean(bad));
  };
  // Each edit bumps the form's version; only a save of the newest version makes it clean ("Saved").
  const version = new WeakMap();
  const edited = (event) => {
    const form = event.target.closest && event.target.closest("form.draft");
    if (!form) return;
    version.set(form, (version.get(form) || 0) + 1);
    dirty.add(form);
    status(form, "Unsaved changes…");
  };
  document.addEventListener("input", edited);
  document.addEventListener("change", edited);
  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form.draft");
    if (form) event.detail.xhr.draftVersion = version.get(form) || 0;
  });
  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt && event.detail.elt.closest && event.detail.elt.closest("form.draft");
    if (!form) return;
    if (event.detail.successful) {
      if (event.detail.xhr.draftVersion === (version.get(form) || 0)) {
        dirty.delete(form);
      } else {
        status(form, "Saving…"); // a newer edit is on its way
      }
    } else {
      const xhr = event.detail.xhr;
      const why = xhr && xhr.status ? xhr.responseText || `HTTP ${xhr.status}` : "the server did not answer";
      status(form, `Not saved: ${why}`, true);
    }
  });

  const save = (form) =>
    window.htmx.ajax("POST", form.getAttribute("hx-post"), {
      source: form,
      target: form.querySelector(".draft-status"),
      swap: "innerHTML",
    });

  // Before any other form leaves the page, save what changed; if a save fails, stay.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.matches("form.draft") || !dirty.size || form.dataset.flushed) return;
    event.preventDefault();
    const pending = drafts().filter((d) => dirty.has(d));
    Promise.all(pending.map(save)).then(() => {
      if (pending.some((d) => dirty.has(d))) return; // a save failed: its message is showing
      form.dataset.flushed = "1";
      form.requestSubmit(event.submitter || undefined);
    });
  });

  window.addEventListener("beforeunload", (event) => {
    if (dirty.size) event.preventDefault();
  });

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const submit = document.querySelector("form[data-submit]");
      if (submit) {
        event.preventDefault();
        submit.requestSubmit();
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
  const empty = drafts()
    .map((f) => f.querySelector("textarea"))
    .find((t) => t && !t.value);
  if (empty) empty.focus();
})();
