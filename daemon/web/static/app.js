// pictod web: progressive enhancement only. Every page works without this file; with it, corrections happen
// in place (no reload), names are saved as you leave the field, the person search suggests as you type, the
// review pages take keyboard shortcuts and the status page refreshes itself.
"use strict";
(function () {
  document.documentElement.classList.add("js");
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const toastBox = document.getElementById("toast");

  function toast(text, isError, sticky) {
    if (!toastBox) return;
    const p = document.createElement("p");
    p.textContent = text;
    if (isError) p.className = "error";
    toastBox.appendChild(p);
    if (!sticky) setTimeout(() => p.remove(), isError ? 6000 : 2500);
  }
  let signedOut = false;
  function signedOutNow(message) {  // the session ended (idle, or a restart): said once, and it stays
    if (signedOut) return;
    signedOut = true;
    toast(message, true, true);
  }
  if (toastBox) toastBox.querySelectorAll("p").forEach((p) => setTimeout(() => p.remove(), 4000));
  try {  // a message carried over a reload (a merge done in place reloads the page to show the merged faces)
    const carried = sessionStorage.getItem("pictod-toast");
    if (carried) { sessionStorage.removeItem("pictod-toast"); toast(carried); }
  } catch (e) { /* storage off: no message, the page shows the result */ }

  // --- a name box whose name was refused: the reason beside it, the typed text kept
  function boxError(form, text) {
    const input = form.querySelector(".person-search");
    let note = form.querySelector(".box-error");
    if (!note) {
      note = document.createElement("span");
      note.className = "box-error";
      note.setAttribute("role", "alert");
      note.id = "box-error-" + Math.random().toString(36).slice(2);
      form.appendChild(note);
    }
    note.textContent = text;
    if (input) { input.setAttribute("aria-invalid", "true"); input.setAttribute("aria-describedby", note.id); input.focus(); }
  }
  function boxClear(form) {
    const note = form.querySelector(".box-error");
    if (note) note.remove();
    const input = form.querySelector(".person-search");
    if (input) { input.removeAttribute("aria-invalid"); input.removeAttribute("aria-describedby"); }
  }
  document.addEventListener("input", (event) => {
    const form = event.target instanceof HTMLInputElement ? event.target.closest("form.js-box") : null;
    if (form) boxClear(form);
  });

  async function post(form) {
    const body = new URLSearchParams(new FormData(form));
    const response = await fetch(form.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    });
    let result;
    try { result = await response.json(); } catch (e) { result = { ok: false, error: "unexpected answer (" + response.status + ")" }; }
    if (!response.ok || !result.ok) {
      const error = new Error(result.error || ("refused (" + response.status + ")"));
      if (result.sign_in) { signedOutNow(result.error); error.shown = true; }
      throw error;
    }
    return result;
  }
  function failed(error) { if (!error.shown) toast(error.message, true); }

  // --- counts on the page follow the corrections made in place: the figures come with each answer
  // ({counts: {people, named, unassigned_faces, persons: {id: {name, faces, photos, who} | null}}}), the size of a
  // group of the Unknown faces page from the faces left in it
  function setCount(el, n) {
    if (typeof n !== "number") return;
    const noun = el.dataset.one !== undefined ? " " + (n === 1 ? el.dataset.one : el.dataset.many) : "";
    el.textContent = (el.dataset.prefix || "") + n + noun;
  }
  function each(selector, fn) { document.querySelectorAll(selector).forEach(fn); }
  function showCounts(counts) {
    if (!counts) return;
    for (const key of ["people", "named", "unassigned_faces"]) each('[data-count="' + key + '"]', (el) => setCount(el, counts[key]));
    for (const [id, person] of Object.entries(counts.persons || {})) {
      if (person === null) { each('li.card[data-person="' + id + '"]', (el) => el.remove()); continue; }
      each('[data-person-faces="' + id + '"]', (el) => setCount(el, person.faces));
      each('[data-person-photos="' + id + '"]', (el) => setCount(el, person.photos));
      each('[data-person-who="' + id + '"]', (el) => { el.textContent = person.who; });
    }
  }
  function regroup(tile) {
    const group = tile.closest("section.group");
    if (!group) return;
    const left = group.querySelectorAll("figure.face:not(.done)").length;
    group.querySelectorAll("[data-group-count]").forEach((el) => setCount(el, left));
    group.querySelectorAll('form.accept-all input[name="face"]').forEach((input) => {
      if (input.value === tile.dataset.face) input.remove();
    });
    if (!left) group.hidden = true;
  }

  // --- face tiles: accept / reject / move / dismiss without a reload
  function tiles() { return Array.from(document.querySelectorAll("figure.face:not(.done)")); }
  function currentTile() {
    const active = document.activeElement;
    const tile = active && active.closest ? active.closest("figure.face") : null;
    return tile && !tile.classList.contains("done") ? tile : null;
  }
  function focusTile(tile) { if (tile) { tile.focus({ preventScroll: false }); tile.scrollIntoView({ block: "nearest" }); } }
  function step(from, by) {
    const all = tiles();
    if (!all.length) return null;
    const at = from ? all.indexOf(from) : -1;
    if (at < 0) return all[0];
    return all[Math.min(Math.max(at + by, 0), all.length - 1)];
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.classList.contains("js-action")) {
      event.preventDefault();
      const tile = form.closest("figure.face");
      try {
        const result = await post(form);
        toast(result.message);
        showCounts(result.counts);
        if (!tile) return;
        if (form.action.endsWith("/accept") && !document.body.dataset.page.startsWith("unknown")) {
          tile.classList.add("pinned");
          focusTile(step(tile, 1));
        } else {
          const next = step(tile, 1) === tile ? step(tile, -1) : step(tile, 1);
          tile.classList.add("done");
          regroup(tile);
          focusTile(next !== tile ? next : null);
          setTimeout(() => tile.remove(), 300);
        }
      } catch (error) {
        failed(error);
        if (form.classList.contains("js-box")) boxError(form, error.message);
      }
    } else if (form.classList.contains("js-box")) {  // the merge box: checked in place, the page reloaded when done
      event.preventDefault();
      try {
        const result = await post(form);
        try { sessionStorage.setItem("pictod-toast", result.message); } catch (e) { /* no message then */ }
        window.location.reload();
      } catch (error) { boxError(form, error.message); failed(error); }
    } else if (form.classList.contains("js-rename")) {
      event.preventDefault();
      saveName(form);
    }
  });

  // --- inline rename on the people grid: saved on Enter or when the field is left
  async function saveName(form) {
    const input = form.querySelector('[name="name"]');
    if (input.dataset.saved === input.value) return;  // Enter and leaving the field both land here: once
    const before = input.dataset.saved;
    input.dataset.saved = input.value;
    try {
      const result = await post(form);
      toast(result.message);
      showCounts(result.counts);
      input.title = result.name || "";
      const portrait = form.closest(".card") && form.closest(".card").querySelector(".portrait");
      if (portrait) portrait.title = result.name || "";
    } catch (error) { input.dataset.saved = before; failed(error); }
  }
  // The grown field (where the browser has no `field-sizing: content`): as tall as its text.
  function fit(field) { if (!CSS.supports("field-sizing", "content")) { field.style.height = "auto"; field.style.height = field.scrollHeight + "px"; } }
  document.querySelectorAll("form.js-rename [name=name]").forEach((input) => {
    input.dataset.saved = input.value;
    input.addEventListener("change", () => saveName(input.form));
    if (input instanceof HTMLTextAreaElement) {
      input.addEventListener("keydown", (event) => {  // a name is one line: Enter saves
        if (event.key === "Enter") { event.preventDefault(); saveName(input.form); }
      });
      input.addEventListener("input", () => fit(input));
      fit(input);
    }
  });

  // --- the person search: the shared datalist follows what is typed (the answer to the last search sent: an
  // earlier one answered late must not put back the people of the text typed before)
  const choices = document.getElementById("people-choices");
  let searchTimer = null;
  let searchesSent = 0;
  document.addEventListener("input", (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.classList.contains("person-search") || !choices) return;
    clearTimeout(searchTimer);
    searchTimer = setTimeout(async () => {
      const sent = ++searchesSent;
      const multi = input.classList.contains("multi");
      const parts = input.value.split(",");
      const text = multi ? parts[parts.length - 1].trim() : input.value.trim();
      const prefix = multi && parts.length > 1 ? parts.slice(0, -1).join(",") + ", " : "";
      try {
        const response = await fetch("/api/people?q=" + encodeURIComponent(text), { credentials: "same-origin" });
        if (!response.ok) return;
        const people = await response.json();
        if (sent !== searchesSent) return;
        choices.replaceChildren(...people.map((p) => {
          const option = document.createElement("option");
          option.value = prefix + p.label;
          option.label = p.faces + " faces";
          return option;
        }));
      } catch (e) { /* the typed text still works */ }
    }, 120);
  });

  // --- keyboard shortcuts on the review pages
  const page = document.body.dataset.page || "";
  if (page === "person" || page === "unknown") {
    document.addEventListener("keydown", (event) => {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      const target = event.target;
      const typing = target instanceof HTMLInputElement && target.type !== "checkbox";
      if (typing) {
        if (event.key === "Escape") { const tile = target.closest("figure.face"); if (tile) focusTile(tile); else target.blur(); }
        return;
      }
      if ((target instanceof HTMLButtonElement || target instanceof HTMLAnchorElement) &&
          (event.key === "Enter" || event.key === " ")) return;
      const tile = currentTile();
      const click = (key) => { const el = tile && tile.querySelector('[data-key="' + key + '"]'); if (el) { el.click(); return true; } return false; };
      let handled = true;
      switch (event.key) {
        case "j": case "ArrowRight": case "ArrowDown": focusTile(step(tile, 1)); break;
        case "k": case "ArrowLeft": case "ArrowUp": focusTile(step(tile, -1)); break;
        case "a": case "Enter": handled = click("accept"); break;
        case "x": case "Delete": handled = click("reject"); break;
        case "m": { const el = tile && tile.querySelector('[data-key="move"]'); if (el) el.focus(); else handled = false; break; }
        case " ": case "s": handled = click("select"); break;
        default: handled = false;
      }
      if (handled) event.preventDefault();
    });
  }

  // --- the status page refreshes itself while a daemon runs (not while the tab is hidden)
  const figures = document.getElementById("figures");
  const utc = (iso) => String(iso).slice(0, 19).replace("T", " ") + " UTC";
  function shown(cell, value) {
    if (value === null || value === undefined) return cell.dataset.none !== undefined ? cell.dataset.none : "never";
    if (typeof value === "object") {  // roots_missing: {root: since}, as `pictod status` prints it
      const roots = Object.entries(value).sort();
      return roots.length ? roots.map(([root, since]) => root + " (since " + utc(since) + ")").join("; ") : "none";
    }
    if (cell.dataset.since !== undefined) return cell.dataset.since + utc(value);
    return String(value);
  }
  function showRoots(roots) {
    const box = document.getElementById("roots-away");
    const list = box && box.querySelector("[data-roots]");
    if (!list) return;
    list.replaceChildren(...Object.entries(roots || {}).sort().map(([root, since]) => {
      const item = document.createElement("li");
      const code = document.createElement("code");
      code.textContent = root;
      const time = document.createElement("time");
      time.dateTime = since;
      time.textContent = utc(since);
      item.append(code, " since ", time);
      return item;
    }));
    box.hidden = !list.children.length;
  }
  if (figures && figures.dataset.refresh === "yes") {
    const refreshed = document.getElementById("refreshed");
    setInterval(async () => {
      if (document.hidden || signedOut) return;
      try {
        const response = await fetch("/api/status", { credentials: "same-origin", headers: { "Accept": "application/json" } });
        if (response.status === 403) {
          const answer = await response.json().catch(() => ({}));
          if (answer.sign_in) { signedOutNow(answer.error); if (refreshed) refreshed.textContent = "Signed out: not refreshed."; }
          return;
        }
        if (!response.ok) return;
        const stats = await response.json();
        for (const [key, value] of Object.entries(stats)) {
          const cell = figures.querySelector('[data-stat="' + key + '"]');
          if (cell) cell.textContent = shown(cell, value);
        }
        showRoots(stats.roots_missing);
        const daemon = figures.querySelector('[data-stat="daemon"]');
        if (daemon) daemon.textContent = stats.daemon_running ? "running" + (stats.daemon_pid > 0 ? " (pid " + stats.daemon_pid + ")" : "") : "not running";
        if (refreshed) refreshed.textContent = "Refreshed at " + new Date().toLocaleTimeString() + ".";
      } catch (e) { /* try again at the next tick */ }
    }, 3000);
  }
})();
