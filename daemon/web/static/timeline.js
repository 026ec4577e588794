// pictod web: the Photos page's timeline. Progressive enhancement only: without this file the page shows one
// page of months with "newer" / "older" links, and the scrubber's links open the page of a month. With it, every
// month of the search is on the page, each a placeholder of its own height until it comes near the screen, then
// filled from /photos/month one slice at a time (the same markup the server renders); the scrubber jumps to a
// month, follows the scrolling, and is one tab stop moved with the arrow keys (PageUp/PageDown: a year); arrow
// keys move between the photos, Enter opens one.
"use strict";
(function () {
  const root = document.getElementById("timeline");
  const scrubber = document.getElementById("scrubber");
  if (!root || !scrubber || !("IntersectionObserver" in window)) return;
  const fragment = root.dataset.fragment;  // /photos/month?<the filter>
  const TILE = 150, GAP = 4;  // px, as timeline.css lays out the grid
  const AHEAD = 1200;  // px beyond the screen that are filled before they are seen
  const PARALLEL = 2;  // fetches at a time
  const links = Array.from(scrubber.querySelectorAll("a[data-count]"));  // every month, newest first
  const sections = new Map();  // month -> {el, grid, count, loaded, loading, failed}
  const pager = root.querySelector(".timeline-pager");
  let active = 0;

  // --- every month's section, in order; a section the server drew from its first photo is kept as it is
  for (const link of links) {
    const month = link.dataset.month;
    const count = Number(link.dataset.count);
    let el = document.getElementById("m-" + month);
    if (el && Number(el.dataset.offset) > 0) { el.remove(); el = null; }  // a page starting inside a month
    if (!el) el = placeholder(month, count, link.title.split(":")[0]);
    const more = el.querySelector(".month-more");
    if (more) more.remove();
    root.insertBefore(el, pager);
    sections.set(month, { el, grid: el.querySelector("ul.thumbs"), count, loaded: Number(el.dataset.loaded || 0),
                          loading: false, failed: false });
  }
  if (pager) pager.remove();
  scrubber.classList.add("collapsible");

  function placeholder(month, count, name) {
    const el = document.createElement("section");
    el.className = "month placeholder";
    el.id = "m-" + month;
    el.dataset.month = month;
    el.dataset.count = String(count);
    const heading = document.createElement("h2");
    heading.tabIndex = -1;
    heading.append(name + " ");
    const small = document.createElement("small");
    small.textContent = count + (count === 1 ? " photo" : " photos");
    heading.append(small);
    const grid = document.createElement("ul");
    grid.className = "thumbs";
    el.append(heading, grid);
    return el;
  }

  // --- a month not loaded yet keeps the height its photos will take, so the scroll bar and jumps are right
  function reserve() {
    const width = root.clientWidth;
    const cols = Math.max(1, Math.floor((width + GAP) / (TILE + GAP)));
    const tile = (width - (cols - 1) * GAP) / cols;
    for (const s of sections.values()) {
      const rows = Math.ceil(s.count / cols);
      s.grid.style.minHeight = s.loaded >= s.count ? "" : Math.max(0, rows * (tile + GAP) - GAP) + "px";
    }
  }
  let resized = null;
  window.addEventListener("resize", () => { clearTimeout(resized); resized = setTimeout(() => { reserve(); pump(); }, 150); });

  // --- filling: the sections near the screen whose loaded photos end before the screen does
  const near = new Set();
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (entry.isIntersecting) near.add(entry.target.dataset.month); else near.delete(entry.target.dataset.month);
    }
    pump();
  }, { rootMargin: AHEAD + "px 0px" });
  for (const s of sections.values()) observer.observe(s.el);

  function wanted(s) {
    if (s.loading || s.failed || s.loaded >= s.count) return false;
    const last = s.grid.lastElementChild;
    const edge = last ? last.getBoundingClientRect().bottom : s.grid.getBoundingClientRect().top;
    return edge < window.innerHeight + AHEAD;
  }

  function pump() {
    const todo = Array.from(near, (m) => sections.get(m)).filter(wanted);
    const distance = (s) => Math.abs(s.el.getBoundingClientRect().top);
    todo.sort((a, b) => distance(a) - distance(b));
    for (const s of todo) {
      if (active >= PARALLEL) break;
      load(s);
    }
  }

  async function load(s) {
    s.loading = true;
    active += 1;
    s.el.setAttribute("aria-busy", "true");
    try {
      const url = fragment + (fragment.includes("?") ? "&" : "?") + "month=" + s.el.dataset.month +
        "&offset=" + s.loaded;
      const response = await fetch(url, { credentials: "same-origin" });
      if (!response.ok) throw new Error("could not load " + s.el.dataset.month + " (" + response.status + ")");
      const template = document.createElement("template");
      template.innerHTML = await response.text();
      const added = template.content.querySelectorAll("li").length;
      s.grid.append(template.content);
      const more = response.headers.get("x-pictod-more");
      // The library may have changed since the page was drawn: the server says where the month ends.
      s.loaded = more && added > 0 ? Number(more) : s.count;
      s.el.classList.remove("placeholder");
      if (s.loaded >= s.count) s.grid.style.minHeight = "";
    } catch (error) {
      s.failed = true;
      const retry = document.createElement("button");
      retry.type = "button";
      retry.className = "retry";
      retry.textContent = error.message + ": try again";
      retry.addEventListener("click", () => { s.failed = false; retry.remove(); pump(); });
      s.el.append(retry);
    } finally {
      s.loading = false;
      active -= 1;
      s.el.removeAttribute("aria-busy");
      pump();
    }
  }

  // --- the scrubber: where you are, a jump on click or Enter, one tab stop moved with the keys
  const headerHeight = () => (document.querySelector("header.top") || { offsetHeight: 0 }).offsetHeight;
  let current = null;

  function openYear(link) {
    for (const year of scrubber.querySelectorAll("li.year.open")) {
      if (!year.contains(link) && !year.contains(document.activeElement)) year.classList.remove("open");
    }
    const year = link.closest("li.year");
    if (year) year.classList.add("open");
  }

  function roving(link) {
    for (const a of scrubber.querySelectorAll("a")) a.tabIndex = -1;
    link.tabIndex = 0;
  }

  function track() {
    const top = headerHeight() + 8;
    let month = null;
    for (const s of sections.values()) {
      if (s.el.getBoundingClientRect().bottom > top) { month = s.el.dataset.month; break; }
    }
    const scrolled = document.documentElement;
    if (scrolled.scrollTop > 0 && scrolled.scrollTop + window.innerHeight >= scrolled.scrollHeight - 2) {
      month = links.length ? links[links.length - 1].dataset.month : month;  // at the end: the last month
    }
    if (!month || month === current) return;
    current = month;
    const link = scrubber.querySelector('a[data-count][data-month="' + month + '"]');
    if (!link) return;
    for (const a of scrubber.querySelectorAll("a[aria-current]")) a.removeAttribute("aria-current");
    link.setAttribute("aria-current", "true");
    if (!scrubber.contains(document.activeElement)) { roving(link); openYear(link); }
    const box = scrubber.getBoundingClientRect(), at = link.getBoundingClientRect();
    if (at.top < box.top || at.bottom > box.bottom) scrubber.scrollTop += at.top - box.top - box.height / 2;
    const url = new URL(window.location.href);
    url.searchParams.set("month", month);
    url.searchParams.delete("offset");
    url.hash = "";
    history.replaceState(null, "", url);
  }

  function jump(month, focus) {
    const s = sections.get(month);
    if (!s) return;
    s.el.scrollIntoView({ block: "start" });
    if (focus) s.el.querySelector("h2").focus({ preventScroll: true });
    track();
    pump();
  }

  scrubber.addEventListener("click", (event) => {
    const link = event.target.closest("a[data-month]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    event.preventDefault();
    jump(link.dataset.month, true);
  });

  scrubber.addEventListener("keydown", (event) => {
    const at = links.indexOf(document.activeElement);
    if (at < 0) return;
    const year = (i) => links[i].dataset.month.slice(0, 4);
    let to = null;
    switch (event.key) {
      case "ArrowDown": case "ArrowRight": to = Math.min(at + 1, links.length - 1); break;
      case "ArrowUp": case "ArrowLeft": to = Math.max(at - 1, 0); break;
      case "Home": to = 0; break;
      case "End": to = links.length - 1; break;
      case "PageDown": to = at; while (to < links.length - 1 && year(to) === year(at)) to += 1; break;
      case "PageUp": {
        to = at;
        while (to > 0 && year(to) === year(at)) to -= 1;  // into the newer year, then to its first month
        while (to > 0 && year(to - 1) === year(to)) to -= 1;
        break;
      }
      default: return;
    }
    event.preventDefault();
    openYear(links[to]);
    roving(links[to]);
    links[to].focus();
  });

  // --- arrow keys between photos (Enter opens the focused one: it is a link)
  root.addEventListener("keydown", (event) => {
    const link = event.target.closest && event.target.closest("ul.thumbs a");
    if (!link || event.ctrlKey || event.metaKey || event.altKey) return;
    const all = Array.from(root.querySelectorAll("ul.thumbs a"));
    const at = all.indexOf(link);
    const grid = link.closest("ul.thumbs");
    const first = grid.firstElementChild;
    let cols = 0;
    for (const li of grid.children) { if (li.offsetTop !== first.offsetTop) break; cols += 1; }
    let to = null;
    switch (event.key) {
      case "ArrowRight": to = at + 1; break;
      case "ArrowLeft": to = at - 1; break;
      case "ArrowDown": to = at + Math.max(cols, 1); break;
      case "ArrowUp": to = at - Math.max(cols, 1); break;
      default: return;
    }
    event.preventDefault();
    const target = all[Math.min(Math.max(to, 0), all.length - 1)];
    target.focus();
    target.scrollIntoView({ block: "nearest" });
  });

  let ticking = false;
  window.addEventListener("scroll", () => {
    if (ticking) return;
    ticking = true;
    requestAnimationFrame(() => { ticking = false; track(); pump(); });
  }, { passive: true });

  reserve();
  // Opened at a month (a scrubber link without the script, a reload, back from a photo): start there.
  const asked = new URL(window.location.href).searchParams.get("month");
  const start = asked && (sections.has(asked) ? asked : root.dataset.current);
  if (start) jump(start, false); else track();
  const first = scrubber.querySelector("a[aria-current]") || links[0];
  if (first) { roving(first); openYear(first); }
  pump();
})();
