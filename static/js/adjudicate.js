// Keys 1-4 pick a decision on the adjudication page (not while typing a note).
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (target instanceof HTMLElement && (target.isContentEditable || /^(TEXTAREA|INPUT|SELECT)$/.test(target.tagName))) return;
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  const radios = document.querySelectorAll('#decide input[name="decision"]');
  const index = Number.parseInt(event.key, 10) - 1;
  if (index >= 0 && index < radios.length) {
    radios[index].checked = true;
    radios[index].focus();
    event.preventDefault();
  }
});
