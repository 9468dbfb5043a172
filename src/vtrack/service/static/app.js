// vtrack live page: one tile per stream (live MJPEG view, state, FPS, zone occupancy, the last error
// and a restart button when failed) and a chart of crossings per hour by class over the last 24 h.
// Streams with sub-classes get a "teach" panel: their recent track crops with a button per label that
// files the crop into the stream's examples folder, and "learn again" (no restart).
// No dependencies; same-origin requests only.
"use strict";

const REFRESH_MS = 2000;
const CHART_REFRESH_MS = 30000;
const HOURS = 24;
const COLORS = ["#4e9af1", "#f0b429", "#3ccf7a", "#ef5350", "#b57bee", "#2bc4c4", "#f78c40", "#9aa5b1"];
const SVG_NS = "http://www.w3.org/2000/svg";
const TEACH_REFRESH_MS = 5000;
const tiles = new Map(); // stream id -> {el, chartAt, teach}

async function getJSON(url) {
  const r = await fetch(url, { credentials: "same-origin", cache: "no-store" });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function makeTile(s) {
  const root = el("section", "tile");
  root.dataset.stream = s.id;
  const head = el("div", "head");
  head.append(el("span", "name", s.id), el("span", "state"));
  const view = el("div", "view");
  const img = el("img");
  img.alt = `live view of ${s.id}`;
  view.append(img);
  const meta = el("div", "meta");
  const zones = el("div", "zones");
  const chart = el("div", "chart");
  root.append(head, view, meta, zones, chart);
  document.getElementById("tiles").append(root);
  const t = { el: root, img, chartAt: 0, viewing: false, teach: null };
  loadTeach(s.id, t);
  return t;
}

function updateTile(t, s) {
  const state = t.el.querySelector(".state");
  state.textContent = s.state;
  state.className = `state ${s.state}`;
  const age = s.last_frame_age_seconds === null ? "–" : `${s.last_frame_age_seconds.toFixed(1)} s`;
  const meta = t.el.querySelector(".meta");
  meta.textContent = `${s.fps.toFixed(1)} FPS · last frame ${age} · ${s.reconnects} reconnects · ` +
    `${s.frames_dropped} dropped · ${s.source}`;
  if (s.last_error && s.state !== "running") meta.append(el("div", "error", s.last_error));
  if (s.state === "failed") meta.append(restartButton(s.id));
  // zone occupancy now: "lot: 3 car, 1 person" per zone
  const zones = t.el.querySelector(".zones");
  zones.replaceChildren(...(s.zones || []).map((z) => {
    const per = Object.entries((s.occupancy || {})[z] || {}).filter(([, n]) => n > 0);
    const total = per.reduce((a, [, n]) => a + n, 0);
    const text = per.length ? per.map(([c, n]) => `${n} ${c}`).join(", ") : "empty";
    const item = el("span", "zone", `${z}: ${text}`);
    item.dataset.zone = z;
    item.dataset.occupancy = String(total);
    return item;
  }));
  // (re)attach the MJPEG view when the stream runs; the browser keeps the connection open
  if (s.state === "running" && !t.viewing) {
    t.img.src = `/streams/${encodeURIComponent(s.id)}/mjpeg`;
    t.viewing = true;
  } else if (s.state !== "running" && t.viewing && s.state !== "reconnecting") {
    t.viewing = false;
  }
}

function restartButton(id) {
  const b = el("button", "restart", "restart");
  b.type = "button";
  b.addEventListener("click", async () => {
    b.disabled = true;
    try {
      const r = await fetch(`/api/streams/${encodeURIComponent(id)}/restart`,
        { method: "POST", credentials: "same-origin" });
      if (!r.ok) b.textContent = `restart failed (HTTP ${r.status})`;
    } catch (e) {
      b.textContent = `restart failed (${e.message})`;
    }
  });
  return b;
}

function drawChart(container, data) {
  // stacked bars: crossings (in + out) per hour by class, last 24 h
  const now = new Date();
  const end = Math.floor(now.getTime() / 3600000) * 3600000 + 3600000;
  const start = end - HOURS * 3600000;
  const classes = [...new Set(data.rows.map((r) => r.class))].sort();
  const perHour = Array.from({ length: HOURS }, () => ({}));
  for (const r of data.rows) {
    const i = Math.floor((new Date(r.start).getTime() - start) / 3600000);
    if (i < 0 || i >= HOURS) continue;
    perHour[i][r.class] = (perHour[i][r.class] || 0) + r.count;
  }
  const max = Math.max(1, ...perHour.map((h) => Object.values(h).reduce((a, b) => a + b, 0)));
  const W = 480, H = 150, L = 28, B = 18, T = 6;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "crossings per hour by class, last 24 hours");
  const bw = (W - L) / HOURS;
  const line = (x1, y1, x2, y2) => {
    const l = document.createElementNS(SVG_NS, "line");
    Object.entries({ x1, y1, x2, y2 }).forEach(([k, v]) => l.setAttribute(k, v));
    l.setAttribute("class", "axis");
    svg.append(l);
  };
  const text = (x, y, s, anchor) => {
    const t = document.createElementNS(SVG_NS, "text");
    t.setAttribute("x", x); t.setAttribute("y", y); t.setAttribute("text-anchor", anchor || "start");
    t.textContent = s;
    svg.append(t);
  };
  line(L, T, L, H - B);
  line(L, H - B, W, H - B);
  text(L - 4, T + 8, String(max), "end");
  text(L - 4, H - B, "0", "end");
  perHour.forEach((h, i) => {
    let y = H - B;
    classes.forEach((c, k) => {
      const n = h[c] || 0;
      if (!n) return;
      const bh = ((H - B - T) * n) / max;
      const r = document.createElementNS(SVG_NS, "rect");
      r.setAttribute("x", L + i * bw + 1);
      r.setAttribute("y", y - bh);
      r.setAttribute("width", Math.max(1, bw - 2));
      r.setAttribute("height", bh);
      r.setAttribute("fill", COLORS[k % COLORS.length]);
      const title = document.createElementNS(SVG_NS, "title");
      title.textContent = `${new Date(start + i * 3600000).toLocaleString()}: ${n} ${c}`;
      r.append(title);
      svg.append(r);
      y -= bh;
    });
    if (i % 6 === 0) {
      const hh = new Date(start + i * 3600000).getHours();
      text(L + i * bw, H - 4, `${String(hh).padStart(2, "0")}:00`);
    }
  });
  const legend = el("div", "legend");
  if (classes.length === 0) legend.append(el("span", "", "no crossings in the last 24 h"));
  classes.forEach((c, k) => {
    const item = el("span");
    const sw = el("i");
    sw.style.background = COLORS[k % COLORS.length];
    item.append(sw, document.createTextNode(c));
    legend.append(item);
  });
  container.replaceChildren(svg, legend);
  container.dataset.rendered = "1";
}

async function refreshChart(id, t) {
  try {
    const data = await getJSON(`/api/streams/${encodeURIComponent(id)}/counts?bucket=hour`);
    drawChart(t.el.querySelector(".chart"), data);
    t.chartAt = Date.now();
  } catch (e) {
    console.warn(e);
  }
}

// ------------------------------------------------------------------ teaching sub-classes
async function send(url, body) {
  const r = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : `HTTP ${r.status}`);
  return data;
}

async function loadTeach(id, t) {
  // the panel exists only for streams with sub-classes (the route answers 404/409 otherwise)
  const r = await fetch(`/api/streams/${encodeURIComponent(id)}/subclasses`,
    { credentials: "same-origin", cache: "no-store" }).catch(() => null);
  if (!r || !r.ok) return;
  const info = await r.json();
  if (!t.teach) {
    const panel = el("details", "teach");
    const summary = el("summary");
    const crops = el("div", "crops");
    const foot = el("div", "learn");
    panel.append(summary, crops, foot);
    panel.addEventListener("toggle", () => { if (panel.open) refreshCrops(id, t); });
    t.el.append(panel);
    t.teach = { panel, summary, crops, foot, info, shown: "", filed: new Map(), at: 0 };
    if (info.examples !== null) {
      const learn = el("button", "relearn", "learn again");
      learn.type = "button";
      const result = el("span", "result");
      learn.addEventListener("click", () => relearn(id, t, learn, result));
      foot.append(learn, result);
    } else {
      foot.append(el("span", "result", "no subclasses_examples folder configured: teaching is off"));
    }
  }
  t.teach.info = info;
  const counts = Object.entries(info.labels).map(([l, n]) => `${l} ${n}`).join(" · ");
  t.teach.summary.textContent = `teach ${info.parent} sub-classes (${counts})`;
}

function teachLabels(info) {
  return [...new Set([...Object.keys(info.labels), ...Object.keys(info.examples || {})])].sort();
}

async function refreshCrops(id, t) {
  const teach = t.teach;
  if (!teach || !teach.panel.open) return;
  teach.at = Date.now();
  let crops;
  try {
    crops = await getJSON(`/api/streams/${encodeURIComponent(id)}/subclasses/crops`);
  } catch (e) {
    console.warn(e);
    return;
  }
  const key = crops.map((c) => c.id).join(",") + "|" + teachLabels(teach.info).join(",");
  if (key === teach.shown) return; // nothing new: keep the buttons under the user's pointer
  teach.shown = key;
  if (crops.length === 0) {
    teach.crops.replaceChildren(el("span", "empty", "no crops yet: they appear as tracks are seen"));
    return;
  }
  teach.crops.replaceChildren(...crops.slice().reverse().map((c) => cropCard(id, t, c)));
}

function cropCard(id, t, c) {
  const card = el("figure", "crop");
  card.dataset.crop = String(c.id);
  const img = el("img");
  img.src = c.url;
  img.alt = `track ${c.track_id}, frame ${c.frame}`;
  const caption = el("figcaption", "", `#${c.track_id} ${c.label}`);
  card.append(img, caption);
  const filed = t.teach.filed.get(c.id);
  if (filed) {
    card.classList.add("filed");
    card.append(el("div", "filed-as", `filed as ${filed}`));
    return card;
  }
  if (t.teach.info.examples === null) return card;
  const buttons = el("div", "labels");
  const file = async (label, button) => {
    for (const b of buttons.querySelectorAll("button, input")) b.disabled = true;
    try {
      await send(`/api/streams/${encodeURIComponent(id)}/subclasses/crops/${c.id}/label`, { label });
      t.teach.filed.set(c.id, label);
      if (t.teach.filed.size > 200) t.teach.filed.delete(t.teach.filed.keys().next().value);
      card.classList.add("filed");
      buttons.replaceWith(el("div", "filed-as", `filed as ${label}`));
      loadTeach(id, t); // examples per label changed
    } catch (e) {
      for (const b of buttons.querySelectorAll("button, input")) b.disabled = false;
      button.title = e.message;
      caption.textContent = `#${c.track_id}: ${e.message}`;
    }
  };
  for (const label of teachLabels(t.teach.info)) {
    const b = el("button", "label", label);
    b.type = "button";
    b.dataset.label = label;
    b.addEventListener("click", () => file(label, b));
    buttons.append(b);
  }
  const other = el("input", "new-label");
  other.placeholder = "new label";
  other.setAttribute("aria-label", "file under a new label");
  other.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && other.value.trim()) file(other.value.trim().toLowerCase(), other);
  });
  buttons.append(other);
  card.append(buttons);
  return card;
}

async function relearn(id, t, button, result) {
  button.disabled = true;
  result.textContent = "learning…";
  result.className = "result";
  try {
    const r = await send(`/api/streams/${encodeURIComponent(id)}/subclasses/learn`);
    const counts = Object.entries(r.counts).map(([l, n]) => `${l} ${n}`).join(", ");
    result.textContent = `learned ${counts}; leave-one-out accuracy ${(100 * r.accuracy).toFixed(1)} %`;
    result.classList.add("ok");
    await loadTeach(id, t);
  } catch (e) {
    result.textContent = `not learned: ${e.message}`;
    result.classList.add("error");
  } finally {
    button.disabled = false;
  }
}

async function refresh() {
  let streams;
  try {
    streams = await getJSON("/api/streams");
  } catch (e) {
    document.getElementById("summary").textContent = `cannot reach the API (${e.message})`;
    return;
  }
  const running = streams.filter((s) => s.state === "running").length;
  document.getElementById("summary").textContent = `${streams.length} stream(s), ${running} running`;
  const seen = new Set();
  for (const s of streams) {
    seen.add(s.id);
    let t = tiles.get(s.id);
    if (!t) {
      t = makeTile(s);
      tiles.set(s.id, t);
    }
    updateTile(t, s);
    if (Date.now() - t.chartAt > CHART_REFRESH_MS) refreshChart(s.id, t);
    if (t.teach && Date.now() - t.teach.at > TEACH_REFRESH_MS) refreshCrops(s.id, t);
  }
  for (const [id, t] of tiles) {
    if (!seen.has(id)) {
      t.img.src = "";
      t.el.remove();
      tiles.delete(id);
    }
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
