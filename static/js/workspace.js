// The annotator's workspace: keyboard voting, the vote timer, must-view gating and the dialogs.
// The server decides everything that matters (which pair, which side is A); this file only makes
// the page fast to drive from the keyboard and reports time and coverage with the vote.
(function () {
  "use strict";

  const KEYS = { "1": "A", ArrowLeft: "A", "2": "B", ArrowRight: "B", "3": "tie", ArrowDown: "tie" };

  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function init(root) {
    if (!root || root.dataset.wsReady) return;
    root.dataset.wsReady = "1";
    // Time on the pair counts only while the tab is visible.
    let visibleMs = 0;
    let since = document.hidden ? null : performance.now();
    const onVisibility = () => {
      if (document.hidden && since !== null) { visibleMs += performance.now() - since; since = null; }
      else if (!document.hidden && since === null) { since = performance.now(); }
    };
    document.addEventListener("visibilitychange", onVisibility);
    root.omniElapsed = () => Math.round(visibleMs + (since === null ? 0 : performance.now() - since));

    const voteForm = root.querySelector("form.vote");
    const buttons = voteForm ? Array.from(voteForm.querySelectorAll(".vote-btn")) : [];
    const share = parseFloat(root.dataset.mustView || "");
    const coverage = { A: 0, B: 0 };
    const gateMsg = root.querySelector("[data-gate]");
    const unlocked = () => Number.isNaN(share) || (coverage.A >= share - 1e-6 && coverage.B >= share - 1e-6);
    root.addEventListener("omni:coverage", (event) => {
      const { side, value } = event.detail || {};
      if (side !== "A" && side !== "B" || typeof value !== "number") return;
      coverage[side] = Math.max(coverage[side], Math.min(1, value));
      if (gateMsg) gateMsg.dataset.progress = `A ${Math.round(coverage.A * 100)}% · B ${Math.round(coverage.B * 100)}%`;
      if (unlocked()) {
        buttons.forEach((b) => { b.disabled = false; });
        if (gateMsg) { gateMsg.textContent = "Voting unlocked."; delete gateMsg.dataset.progress; } // no stale "(A 50% · B 33%)"
      } else if (gateMsg) {
        gateMsg.dataset.progress = `A ${Math.round(coverage.A * 100)}% · B ${Math.round(coverage.B * 100)}%`;
      }
    });
    root.addEventListener("submit", (event) => {
      if (event.target !== voteForm) return;
      voteForm.elements.elapsed_ms.value = String(root.omniElapsed());
      voteForm.elements.coverage.value = Number.isNaN(share) ? "" : JSON.stringify(coverage);
    }, true);
    root.omniCleanup = () => document.removeEventListener("visibilitychange", onVisibility);

    // Projects with tie kinds: Tie opens a second step in the vote bar (its kind buttons are the submit).
    const step = root.querySelector(".tie-step");
    const row = root.querySelector(".vote-buttons");
    const tie = root.querySelector('.vote-btn[value="tie"]');
    if (step && row && tie) {
      const show = (asking) => {
        step.hidden = !asking;
        row.hidden = asking;
        tie.setAttribute("aria-expanded", String(asking));
        (asking ? step.querySelector(".tie-kind") : tie).focus();
      };
      root.omniTieStep = { open: () => !step.hidden, show };
      tie.addEventListener("click", (event) => { event.preventDefault(); show(true); });
      step.querySelector("[data-action=tie-back]").addEventListener("click", () => show(false));
    }

    root.querySelectorAll("[data-action=close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));
    root.querySelector("[data-action=skip]")?.addEventListener("click", () => openSkip(root, false));
    root.querySelector("[data-action=flag]")?.addEventListener("click", () => openSkip(root, true));
    root.querySelector("[data-action=help]")?.addEventListener("click", () => root.querySelector(".keys-dialog").showModal());
    if (window.OmniViewers) window.OmniViewers.init(root);
  }

  function openSkip(root, flag) {
    const dialog = root.querySelector(".skip-dialog");
    if (!dialog) return;
    const radios = Array.from(dialog.querySelectorAll("input[name=reason]"));
    const pick = flag ? radios.find((r) => r.value === "broken_media") : radios[0];
    if (pick) pick.checked = true;
    dialog.showModal();
    (flag ? dialog.querySelector("button[type=submit]") : pick)?.focus();
  }

  function nudge(root) {
    const msg = root.querySelector("[data-gate]");
    if (!msg) return;
    msg.classList.remove("nudge");
    void msg.offsetWidth; // restart the animation
    msg.classList.add("nudge");
  }

  document.addEventListener("keydown", (event) => {
    const root = document.getElementById("workspace");
    if (!root || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (typing(event.target) || root.querySelector("dialog[open]")) return;
    const tieStep = root.omniTieStep;
    if (tieStep && tieStep.open()) {
      // Asking a tie's kind: 1 and 2 pick it, Escape goes back; the other vote keys wait.
      const kind = root.querySelectorAll(".tie-step .tie-kind")[Number(event.key) - 1];
      if (event.key === "Escape") { event.preventDefault(); tieStep.show(false); return; }
      if (kind) { event.preventDefault(); if (kind.disabled) nudge(root); else kind.click(); return; }
      if (KEYS[event.key]) { event.preventDefault(); return; }
    }
    const choice = KEYS[event.key];
    if (choice) {
      const button = root.querySelector(`.vote-btn[value="${choice}"]`);
      if (!button) return;
      event.preventDefault();
      if (button.disabled) { nudge(root); return; }
      button.click();
      return;
    }
    switch (event.key.toLowerCase()) {
      case "s": event.preventDefault(); openSkip(root, false); break;
      case "x": event.preventDefault(); openSkip(root, true); break;
      case "u": event.preventDefault(); root.querySelector("button[data-action=undo]")?.click(); break;
      case "r": event.preventDefault(); root.querySelector("form.vote textarea")?.focus(); break;
      case "?": event.preventDefault(); root.querySelector(".keys-dialog")?.showModal(); break;
      default: break;
    }
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const old = document.getElementById("workspace");
    if (old && event.detail.target === old) {
      if (old.omniCleanup) old.omniCleanup();
      if (window.OmniViewers) window.OmniViewers.destroy(old);
    }
  });
  // A refused or lost request leaves the pair on screen; say why. Votes carry a submission id,
  // so pressing the key again after a network error cannot store a second judgment.
  function complain(text) {
    const root = document.getElementById("workspace");
    if (!root) return;
    let box = root.querySelector(".notice.client");
    if (!box) {
      box = document.createElement("p");
      box.className = "notice bad client";
      box.setAttribute("role", "alert");
      root.querySelector(".ws-head").after(box);
    }
    box.textContent = text;
  }
  document.addEventListener("htmx:responseError", (event) => {
    const xhr = event.detail.xhr;
    const detail = (xhr.getResponseHeader("Content-Type") || "").startsWith("text/plain") ? xhr.responseText : "";
    complain(detail || `The server refused this (HTTP ${xhr.status}). Reload the page if it happens again.`);
  });
  document.addEventListener("htmx:sendError", () => {
    complain("Could not reach the server. Nothing was lost: press the key again when you are back online.");
  });
  document.addEventListener("htmx:load", (event) => {
    if (event.detail.elt && event.detail.elt.id === "workspace") init(event.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", () => init(document.getElementById("workspace")));
})();
