// pictod web, the review page (daemon/web/review.py): y / n / s answer the face shown, u takes the last answer
// back. The next face always comes from a queue fetched ahead (/api/people/ID/review), so a key press never
// waits on the server: answers are posted in the background, in order, and the queue is read again after each
// one (an accepted face changes the ranking). Without this file the page's forms do the same with reloads.
"use strict";
(function () {
  const root = document.getElementById("review");
  if (!root) return;
  const person = root.dataset.person;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const faceBox = document.getElementById("review-face");
  let current = faceBox ? { face_id: Number(faceBox.dataset.face) } : null;
  let queue = [];
  const history = []; // { candidate, verdict }, newest last
  const answered = new Set(); // faces answered on this page (yes / no / skip): never shown again from the queue
  let pending = Promise.resolve();
  let generation = 0;

  function toast(text, isError) {
    const box = document.getElementById("toast");
    if (!box) return;
    const p = document.createElement("p");
    p.textContent = text;
    if (isError) p.className = "error";
    box.appendChild(p);
    setTimeout(() => p.remove(), isError ? 6000 : 2000);
  }

  async function send(path, fields) {
    const response = await fetch(path, {
      method: "POST", body: new URLSearchParams(fields), credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    });
    let result;
    try { result = await response.json(); } catch (e) { result = { ok: false, error: "unexpected answer (" + response.status + ")" }; }
    if (!response.ok || !result.ok) throw new Error(result.error || ("refused (" + response.status + ")"));
    return result;
  }

  function preload(candidates) {
    for (const c of candidates.slice(0, 3)) {
      new Image().src = "/img/face/" + c.face_id + ".jpg";
      new Image().src = "/img/photo/" + c.photo_id + "/thumb.jpg";
    }
  }

  function show(candidate) {
    const img = document.getElementById("review-face-img");
    const done = document.getElementById("review-done");
    root.dataset.current = candidate ? String(candidate.face_id) : "";
    if (!candidate) {
      if (faceBox) faceBox.hidden = true;
      const link = document.getElementById("review-photo-link");
      if (link) link.hidden = true;
      if (!done) {
        const p = document.createElement("p");
        p.id = "review-done"; p.className = "empty"; p.textContent = "No more faces to review for this person.";
        root.querySelector(".review-candidate").prepend(p);
      }
      return;
    }
    if (done) done.remove();
    if (!img) { window.location.reload(); return; } // the page was rendered with nothing to show
    faceBox.hidden = false;
    faceBox.dataset.face = String(candidate.face_id);
    img.src = "/img/face/" + candidate.face_id + ".jpg";
    if (candidate.distance !== undefined) document.getElementById("review-distance").textContent = candidate.distance.toFixed(2);
    const link = document.getElementById("review-photo-link");
    if (link && candidate.photo_id !== undefined) {
      link.hidden = false;
      link.href = "/photos/" + candidate.photo_id + "#face-" + candidate.face_id;
      document.getElementById("review-photo").src = "/img/photo/" + candidate.photo_id + "/thumb.jpg";
    }
    root.querySelectorAll('.review-answer input[name="face"]').forEach((input) => { input.value = String(candidate.face_id); });
  }

  function refill() {
    const mine = ++generation;
    pending = pending.then(async () => {
      const response = await fetch("/api/people/" + person + "/review", { credentials: "same-origin", headers: { "Accept": "application/json" } });
      const result = await response.json();
      if (mine !== generation || !result.ok) return; // a newer read is on its way
      queue = result.candidates.filter((c) => !answered.has(c.face_id) && (!current || c.face_id !== current.face_id));
      preload(queue);
      if (current && current.photo_id === undefined) {
        const same = result.candidates.find((c) => c.face_id === current.face_id);
        if (same) current = same;
      }
      if (!current && queue.length) { current = queue.shift(); show(current); }
    }).catch((e) => toast(e.message, true));
  }

  function answer(verdict) {
    if (!current) return;
    const candidate = current;
    history.push({ candidate, verdict });
    answered.add(candidate.face_id);
    current = queue.length ? queue.shift() : null;
    show(current);
    pending = pending.then(() => send("/people/" + person + "/review/answer", { face: candidate.face_id, verdict }))
      .catch((e) => toast(e.message, true));
    refill();
  }

  function undo() {
    const last = history.pop();
    if (!last) { toast("nothing to undo", true); return; }
    if (current) queue.unshift(current);
    current = last.candidate;
    answered.delete(current.face_id);
    show(current);
    pending = pending.then(() => send("/people/" + person + "/review/undo", {})).catch((e) => toast(e.message, true));
    refill();
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target instanceof HTMLInputElement || event.target instanceof HTMLTextAreaElement) return;
    const verdict = { y: "yes", n: "no", s: "skip" }[event.key];
    if (verdict) { event.preventDefault(); answer(verdict); } else if (event.key === "u") { event.preventDefault(); undo(); }
  });
  root.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    event.preventDefault();
    if (form.classList.contains("review-undo")) undo();
    else answer(form.querySelector('input[name="verdict"]').value);
  });
  // Expose the queue's state to tests and to the curious: how many answers are still on their way.
  root.dataset.ready = "no";
  refill();
  pending = pending.then(() => { root.dataset.ready = "yes"; });
  window.pictodReviewSettled = () => pending.then(() => true);
})();
