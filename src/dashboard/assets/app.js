// TraceLite dashboard. No dependencies, no network access beyond this
// dashboard's own api/. Everything that comes from a span is put in the page
// with textContent or as an SVG text node: never as HTML.
"use strict";

const main = document.getElementById("main");
const PALETTE = ["#2b6cb0", "#2f855a", "#9f3ab0", "#c05621", "#0b7285", "#b83280", "#5f6b7a", "#6b46c1"];
const serviceColor = new Map();
let refreshTimer = null;

function color(service) {
  if (!serviceColor.has(service)) serviceColor.set(service, PALETTE[serviceColor.size % PALETTE.length]);
  return serviceColor.get(service);
}

// el("div", {class: "x"}, "text", child) — strings become text nodes.
function el(tag, attrs, ...children) {
  const svg = ["svg", "g", "rect", "line", "path", "text", "polyline", "title", "circle"].includes(tag);
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "onclick" || k === "oninput" || k === "onchange" || k === "onsubmit") node.addEventListener(k.slice(2), v);
    else if (k === "style" && !svg) Object.assign(node.style, v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return node;
}

function fmtDuration(ns) {
  if (ns < 1e3) return ns + "ns";
  if (ns < 1e6) return (ns / 1e3).toPrecision(3) + "µs";
  if (ns < 1e9) return (ns / 1e6).toPrecision(3) + "ms";
  return (ns / 1e9).toPrecision(3) + "s";
}
function fmtTime(ns) {
  return new Date(ns / 1e6).toISOString().replace("T", " ").replace("Z", "");
}
function pct(x) { return (x * 100).toFixed(1) + "%"; }

async function api(path) {
  const headers = {};
  const token = sessionStorage.getItem("tracelite-token");
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch("api/" + path, { headers });
  if (response.status === 401) { askToken(); throw new Error("a token is required"); }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const msg = body && body.errors && body.errors[0] ? body.errors[0].msg : response.statusText;
    throw new Error(msg);
  }
  return body;
}

function askToken() {
  const input = el("input", { type: "password", id: "token", autocomplete: "off" });
  main.replaceChildren(el("form", { class: "tokenbox", onsubmit: (e) => {
    e.preventDefault();
    sessionStorage.setItem("tracelite-token", input.value);
    route();
  } }, el("h1", {}, "This dashboard needs a token"),
    el("label", {}, "Bearer token ", input), el("button", { type: "submit" }, "Continue")));
}

function showError(err) {
  main.replaceChildren(el("p", { class: "error-text" }, "Could not load: " + err.message));
}

function emptyState() {
  return el("div", { class: "empty", id: "empty" },
    "No traces yet. Run ", el("code", {}, "tracelite demo"),
    ", or add TraceLite's layer to a service and send it a request.");
}

function params() {
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  return { path, query: new URLSearchParams(query || "") };
}

// ---- search ---------------------------------------------------------------

async function viewTraces(q) {
  const services = (await api("services")).data || [];
  const service = q.get("service") || "";
  const operations = service ? (await api("services/" + encodeURIComponent(service) + "/operations")).data : [];
  const form = el("form", { class: "filters", id: "search", onsubmit: (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (v) next.set(k, v);
    location.hash = "#/traces?" + next.toString();
  } },
    el("label", {}, "Service", el("select", { name: "service", id: "f-service", onchange: () => form.requestSubmit() },
      el("option", { value: "" }, "all"),
      services.map((s) => el("option", { value: s, selected: s === service }, s)))),
    el("label", {}, "Operation", el("select", { name: "operation", id: "f-operation" },
      el("option", { value: "" }, "all"),
      operations.map((o) => el("option", { value: o, selected: o === q.get("operation") }, o)))),
    el("label", {}, "Tags", el("input", { name: "tags", id: "f-tags", placeholder: "http.route=/users", value: q.get("tags") || "" })),
    el("label", {}, "Min duration", el("input", { name: "minDuration", id: "f-min", size: 8, placeholder: "100ms", value: q.get("minDuration") || "" })),
    el("label", {}, "Max duration", el("input", { name: "maxDuration", id: "f-max", size: 8, value: q.get("maxDuration") || "" })),
    el("label", {}, "Time range", el("select", { name: "range", id: "f-range" },
      [["", "any time"], ["15m", "last 15m"], ["1h", "last 1h"], ["6h", "last 6h"], ["24h", "last 24h"], ["custom", "custom…"]]
        .map(([v, label]) => el("option", { value: v, selected: v === (q.get("range") || "") }, label)))),
    q.get("range") === "custom" ? el("label", {}, "From (UTC)", el("input", { name: "from", id: "f-from", placeholder: "2026-11-24 09:00", value: q.get("from") || "" })) : null,
    q.get("range") === "custom" ? el("label", {}, "To (UTC)", el("input", { name: "to", id: "f-to", placeholder: "2026-11-24 10:00", value: q.get("to") || "" })) : null,
    el("label", {}, "Limit", el("input", { name: "limit", size: 4, value: q.get("limit") || "20" })),
    el("label", {}, el("span", {}, "Errors only"), el("input", { type: "checkbox", name: "errors", value: "true", checked: q.get("errors") === "true" })),
    el("button", { type: "submit", id: "f-submit" }, "Find traces"));
  const search = new URLSearchParams();
  for (const key of ["service", "operation", "tags", "minDuration", "maxDuration", "limit", "errors"]) {
    if (q.get(key)) search.set(key, q.get(key));
  }
  const range = q.get("range");
  const units = { m: 60e3, h: 3600e3 };
  if (range && range !== "custom") {
    const ms = parseInt(range, 10) * units[range.slice(-1)];
    search.set("start", String((Date.now() - ms) * 1000));
  } else if (range === "custom") {
    const utc = (v) => Date.parse(v.replace(" ", "T") + (v.length <= 16 ? ":00Z" : "Z"));
    if (q.get("from") && !isNaN(utc(q.get("from")))) search.set("start", String(utc(q.get("from")) * 1000));
    if (q.get("to") && !isNaN(utc(q.get("to")))) search.set("end", String(utc(q.get("to")) * 1000));
  }
  let list;
  try {
    const traces = (await api("traces?" + search.toString())).data || [];
    list = traces.length ? el("div", {}, scatter(traces), tracesTable(traces, q.get("sort") || "start"))
      : (services.length ? el("p", { class: "muted", id: "no-results" }, "No trace matches these filters.") : emptyState());
  } catch (err) {
    list = el("p", { class: "error-text", id: "search-error" }, err.message);
  }
  main.replaceChildren(el("h1", {}, "Traces"), form, list);
}

function traceSummary(t) {
  const spans = t.spans;
  const start = Math.min(...spans.map((s) => s.startTime));
  const end = Math.max(...spans.map((s) => s.startTime + s.duration));
  const ids = new Set(spans.map((s) => s.spanID));
  const root = spans.find((s) => !s.references.some((r) => r.refType === "CHILD_OF" && ids.has(r.spanID))) || spans[0];
  const errors = spans.filter((s) => s.tags.some((g) => g.key === "error" && g.value === true)).length;
  return { start, duration: end - start, root, errors, service: t.processes[root.processID].serviceName };
}

function ago(ns) {
  const s = Math.max(0, (Date.now() * 1e6 - ns) / 1e9);
  if (s < 60) return Math.round(s) + "s ago";
  if (s < 3600) return Math.round(s / 60) + "m ago";
  if (s < 86400) return Math.round(s / 3600) + "h ago";
  return Math.round(s / 86400) + "d ago";
}

function scatter(traces) {
  const rows = traces.map((t) => ({ t, s: traceSummary(t) }));
  const W = 900, H = 140, P = 30;
  const t0 = Math.min(...rows.map((r) => r.s.start)), t1 = Math.max(...rows.map((r) => r.s.start), t0 + 1);
  const dmax = Math.max(...rows.map((r) => r.s.duration), 1);
  return el("svg", { id: "scatter", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img" },
    el("line", { x1: P, y1: H - P, x2: W - 10, y2: H - P, class: "edge" }),
    el("text", { x: 2, y: 14 }, fmtDuration(dmax * 1000)),
    el("text", { x: 2, y: H - P + 4 }, "0"),
    rows.map(({ t, s }) => el("circle", {
      class: "dot", "data-trace": t.traceID, r: 5,
      cx: P + ((W - P - 20) * (s.start - t0)) / (t1 - t0), cy: H - P - ((H - P - 10) * s.duration) / dmax,
      fill: s.errors ? "var(--error)" : color(s.service), onclick: () => { location.hash = "#/trace/" + encodeURIComponent(t.traceID); },
    }, el("title", {}, s.root.operationName + " · " + fmtDuration(s.duration * 1000)))));
}

function tracesTable(traces, sortKey) {
  const rows = traces.map((t) => ({ t, s: traceSummary(t) }));
  const longest = Math.max(...rows.map((r) => r.s.duration), 1);
  const keys = { start: (r) => -r.s.start, duration: (r) => -r.s.duration, spans: (r) => -r.t.spans.length, errors: (r) => -r.s.errors };
  rows.sort((a, b) => (keys[sortKey] || keys.start)(a) - (keys[sortKey] || keys.start)(b));
  const sortLink = (key, label) => el("th", { class: "sortable", "data-sort": key, onclick: () => {
    const n = new URLSearchParams(params().query); n.set("sort", key); location.hash = "#/traces?" + n;
  } }, label + (key === sortKey ? " ▾" : ""));
  return el("table", { id: "traces" },
    el("thead", {}, el("tr", {}, el("th", {}, "Root"), el("th", {}, "Trace"), sortLink("start", "Start (UTC)"),
      sortLink("spans", "Spans"), el("th", {}, "Services"), sortLink("errors", "Errors"), sortLink("duration", "Duration"))),
    el("tbody", {}, rows.map(({ t, s }) => {
      const perService = new Map();
      for (const sp of t.spans) {
        const name = t.processes[sp.processID].serviceName;
        perService.set(name, (perService.get(name) || 0) + 1);
      }
      return el("tr", { class: "trace-row", "data-trace": t.traceID },
        el("td", {}, el("a", { href: "#/trace/" + encodeURIComponent(t.traceID) },
          el("span", { class: "wf-service", style: { background: color(s.service) } }, s.service), " ", s.root.operationName)),
        el("td", { class: "muted" }, t.traceID.slice(0, 12)),
        el("td", {}, fmtTime(s.start * 1000), " ", el("span", { class: "muted" }, ago(s.start * 1000))),
        el("td", { class: "num" }, t.spans.length),
        el("td", {}, [...perService].map(([name, n]) => el("span", { class: "badge", style: { marginRight: "4px" } }, name + " " + n))),
        el("td", { class: "num" }, s.errors ? el("span", { class: "badge err" }, s.errors) : "0"),
        el("td", {}, el("span", { class: "durbar", style: { width: Math.max(2, 160 * s.duration / longest) + "px" } }), " ", fmtDuration(s.duration * 1000)));
    })));
}

// ---- one trace ------------------------------------------------------------

async function viewTrace(id) {
  const body = await api("traces/" + encodeURIComponent(id));
  const trace = body.data[0];
  let path = null;
  try { path = await api("traces/" + encodeURIComponent(id) + "/critical-path"); } catch (_) { path = null; }
  const spans = trace.spans;
  const byId = new Map(spans.map((s) => [s.spanID, s]));
  const children = new Map();
  const roots = [];
  for (const s of spans) {
    const parent = s.references.find((r) => r.refType === "CHILD_OF" && byId.has(r.spanID));
    if (parent && parent.spanID !== s.spanID) {
      if (!children.has(parent.spanID)) children.set(parent.spanID, []);
      children.get(parent.spanID).push(s);
    } else roots.push(s);
  }
  const byStart = (a, b) => a.startTime - b.startTime;
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);
  const order = [];
  const seen = new Set();
  const walk = (s, depth) => {
    if (seen.has(s.spanID)) return;
    seen.add(s.spanID);
    order.push({ s, depth });
    for (const c of children.get(s.spanID) || []) walk(c, depth + 1);
  };
  roots.forEach((r) => walk(r, 0));
  const t0 = Math.min(...spans.map((s) => s.startTime));
  const t1 = Math.max(...spans.map((s) => s.startTime + s.duration));
  const total = Math.max(t1 - t0, 1);
  const services = [...new Set(spans.map((s) => trace.processes[s.processID].serviceName))];
  const segments = new Map();
  if (path) for (const seg of path.segments) {
    if (!segments.has(seg.spanID)) segments.set(seg.spanID, []);
    segments.get(seg.spanID).push(seg);
  }
  const collapsed = new Set();
  let showPath = true;
  let selected = null;
  const details = el("div", { id: "details" });
  const rowsBox = el("div", { id: "waterfall" });
  const filter = el("input", { id: "trace-search", placeholder: "search in this trace", oninput: () => render() });

  const isError = (s) => s.tags.some((g) => g.key === "error" && g.value === true);
  function hidden(entry) {
    let s = entry.s;
    for (;;) {
      const p = s.references.find((r) => r.refType === "CHILD_OF" && byId.has(r.spanID));
      if (!p) return false;
      if (collapsed.has(p.spanID)) return true;
      s = byId.get(p.spanID);
    }
  }
  function render() {
    const needle = filter.value.trim().toLowerCase();
    rowsBox.replaceChildren(...order.filter((e) => !hidden(e)).map(({ s, depth }) => {
      const service = trace.processes[s.processID].serviceName;
      const left = 100 * (s.startTime - t0) / total;
      const width = 100 * s.duration / total;
      const kids = (children.get(s.spanID) || []).length;
      const onPath = showPath && segments.has(s.spanID);
      const match = needle && (s.operationName.toLowerCase().includes(needle) || service.toLowerCase().includes(needle) ||
        s.tags.some((g) => String(g.value).toLowerCase().includes(needle)));
      const track = el("div", { class: "wf-track" },
        el("div", { class: "wf-bar", style: { left: left + "%", width: width + "%", background: color(service) } }),
        el("span", { class: "wf-dur", style: { left: Math.min(left + width, 92) + "%" } }, " " + fmtDuration(s.duration * 1000)));
      for (const log of s.logs) {
        const name = (log.fields.find((f) => f.key === "event") || {}).value || "event";
        track.appendChild(el("div", { class: "wf-event", title: String(name), style: { left: 100 * (log.timestamp - t0) / total + "%" } }));
      }
      if (onPath) for (const seg of segments.get(s.spanID)) {
        track.appendChild(el("div", { class: "wf-seg", style: {
          left: 100 * (seg.start / 1000 - t0) / total + "%", width: Math.max(0.2, 100 * (seg.end - seg.start) / 1000 / total) + "%" } }));
      }
      const row = el("div", {
        class: ["wf-row", isError(s) && "error", onPath && "critical", match && "match", selected === s.spanID && "selected"].filter(Boolean).join(" "),
        "data-span": s.spanID, onclick: () => { selected = s.spanID; showDetails(s); render(); },
      },
        el("div", { class: "wf-label", style: { paddingLeft: Math.min(depth, 20) * 14 + "px" } },
          el("span", { class: "wf-toggle", onclick: (e) => {
            e.stopPropagation();
            if (!kids) return;
            if (collapsed.has(s.spanID)) collapsed.delete(s.spanID); else collapsed.add(s.spanID);
            render();
          } }, kids ? (collapsed.has(s.spanID) ? "▸" : "▾") : ""),
          el("span", { class: "wf-service", style: { background: color(service) } }, service),
          el("span", { class: "wf-name" }, s.operationName)),
        track);
      return row;
    }));
  }
  function showDetails(s) {
    const process = trace.processes[s.processID];
    const copy = (text) => el("button", { type: "button", class: "copy", onclick: () => navigator.clipboard && navigator.clipboard.writeText(text) }, "copy");
    const kv = (pairs) => el("table", { class: "kv" }, el("tbody", {}, pairs.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v)))));
    const status = s.tags.find((g) => g.key === "otel.status_code");
    const links = s.references.filter((r) => r.refType === "FOLLOWS_FROM");
    details.replaceChildren(el("div", { class: "details", id: "span-details" },
      el("h2", {}, s.operationName),
      kv([["service", process.serviceName], ["span id", el("span", {}, s.spanID, " ", copy(s.spanID))],
        ["trace id", el("span", {}, trace.traceID, " ", copy(trace.traceID))],
        ["start", fmtTime(s.startTime * 1000)], ["duration", fmtDuration(s.duration * 1000)],
        ["status", status ? String(status.value) : "unset"]]),
      el("h2", {}, "Attributes"),
      el("div", { id: "span-attributes" }, kv(s.tags.filter((g) => !g.key.startsWith("otel.") && g.key !== "span.kind" && g.key !== "error").map((g) => [g.key, String(g.value)]))),
      el("h2", {}, "Resource"), kv(process.tags.map((g) => [g.key, String(g.value)])),
      s.logs.length ? el("h2", {}, "Events") : null,
      s.logs.length ? kv(s.logs.map((l) => ["+" + fmtDuration((l.timestamp - s.startTime) * 1000),
        l.fields.map((f) => f.key + "=" + f.value).join(" ")])) : null,
      links.length ? el("h2", {}, "Links") : null,
      links.map((l) => el("div", { class: "link", "data-trace": l.traceID }, l.traceID + " / " + l.spanID))));
    // A link is clickable when its trace is stored here.
    for (const node of details.querySelectorAll(".link")) {
      const target = node.getAttribute("data-trace");
      api("traces/" + encodeURIComponent(target)).then(() => {
        const a = el("a", { href: "#/trace/" + encodeURIComponent(target) }, node.textContent);
        node.replaceChildren(a);
      }, () => node.appendChild(el("span", { class: "muted" }, " (not stored)")));
    }
  }
  const exportButton = el("button", { type: "button", id: "export", onclick: () => {
    const blob = new Blob([JSON.stringify(body, null, 2)], { type: "application/json" });
    const a = el("a", { href: URL.createObjectURL(blob), download: "trace-" + trace.traceID + ".json" });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  } }, "Export JSON");
  const depth = Math.max(...order.map((o) => o.depth)) + 1;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => el("span", { class: "tick", style: { left: f * 100 + "%" } }, fmtDuration(Math.round(f * total * 1000))));
  const minimap = el("div", { class: "minimap", id: "minimap" }, order.map(({ s }, i) => el("div", { style: {
    left: 100 * (s.startTime - t0) / total + "%", width: Math.max(0.3, 100 * s.duration / total) + "%",
    top: (order.length > 1 ? (24 * i) / (order.length - 1) : 12) + "px", background: color(trace.processes[s.processID].serviceName) } })));
  main.replaceChildren(...[
    el("h1", {}, "Trace ", el("span", { id: "trace-id" }, trace.traceID)),
    el("div", { class: "trace-head" },
      el("span", {}, "start ", fmtTime(t0 * 1000)), el("span", {}, "duration ", fmtDuration(total * 1000)),
      el("span", {}, "services ", services.join(", ")), el("span", {}, "depth " + depth),
      el("span", { id: "span-count" }, spans.length + " spans")),
    el("div", { class: "trace-tools" },
      el("label", {}, el("input", { type: "checkbox", id: "toggle-path", checked: true, onchange: (e) => { showPath = e.target.checked; render(); } }), " critical path"),
      filter, exportButton),
    order.length > 30 ? minimap : null,
    el("div", { class: "ruler" }, el("span", {}), el("div", { class: "ticks" }, ticks)),
    rowsBox, details].filter(Boolean));
  render();
}

// ---- service map ----------------------------------------------------------

async function viewMap(q) {
  const lookback = q.get("lookback") || "1h";
  const map = await api("service-map?lookback=" + encodeURIComponent(lookback));
  if (!map.nodes.length) { main.replaceChildren(el("h1", {}, "Service map"), emptyState()); return; }
  // Layers: a service's depth is the longest chain of callers above it.
  const depth = new Map(map.nodes.map((n) => [n.service, 0]));
  for (let i = 0; i < map.nodes.length; i++) {
    for (const e of map.edges) if (e.from !== e.to) depth.set(e.to, Math.max(depth.get(e.to), Math.min(depth.get(e.from) + 1, map.nodes.length)));
  }
  const layers = new Map();
  for (const n of map.nodes) {
    const d = depth.get(n.service);
    if (!layers.has(d)) layers.set(d, []);
    layers.get(d).push(n);
  }
  const W = 170, H = 46, GX = 210, GY = 50;
  const pos = new Map();
  let height = 0;
  for (const [d, nodes] of layers) {
    nodes.forEach((n, i) => pos.set(n.service, { x: 20 + d * (W + GX), y: 20 + i * (H + GY) }));
    height = Math.max(height, 40 + nodes.length * (H + GY));
  }
  const width = 40 + (Math.max(...layers.keys()) + 1) * (W + GX);
  const svg = el("svg", { id: "service-map", width, height, viewBox: `0 0 ${width} ${height}`, role: "img" },
    map.edges.map((e) => {
      const a = pos.get(e.from), b = pos.get(e.to);
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
      return el("g", { class: "edge-group", "data-from": e.from, "data-to": e.to },
        el("path", { class: "edge" + (e.errorRate > 0 ? " err" : ""), d: `M${x1},${y1} C${x1 + 50},${y1} ${x2 - 50},${y2} ${x2},${y2}`, "marker-end": "" }),
        el("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 20, "text-anchor": "middle" }, `${e.calls} calls`),
        el("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle" }, `${pct(e.errorRate)} err · p99 ${fmtDuration(e.p99)}`));
    }),
    map.nodes.map((n) => {
      const p = pos.get(n.service);
      return el("g", { class: "node", "data-service": n.service, onclick: () => { location.hash = "#/metrics?service=" + encodeURIComponent(n.service); } },
        el("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6 }),
        el("text", { x: p.x + 10, y: p.y + 19 }, n.service),
        el("text", { x: p.x + 10, y: p.y + 36 }, `${n.spanCount} spans · ${pct(n.errorRate)} err`));
    }));
  main.replaceChildren(el("h1", {}, "Service map"), el("p", { class: "muted" }, "Last " + lookback + "; click a service for its metrics."), svg);
}

// ---- metrics --------------------------------------------------------------

function sparkline(points, key, cls) {
  const w = 90, h = 24;
  if (points.length < 2) return el("svg", { width: w, height: h });
  const max = Math.max(...points.map((p) => p[key]), 1);
  const coords = points.map((p, i) => `${(i * w) / (points.length - 1)},${h - (p[key] * (h - 2)) / max - 1}`).join(" ");
  return el("svg", { width: w, height: h, class: "sparkline" }, el("polyline", { class: "spark" + (cls ? " " + cls : ""), points: coords }));
}

async function viewMetrics(q) {
  const lookback = q.get("lookback") || "1h";
  const service = q.get("service") || "";
  const step = lookback.endsWith("d") ? "1h" : "1m";
  const data = await api(`metrics?lookback=${encodeURIComponent(lookback)}&step=${step}` + (service ? "&service=" + encodeURIComponent(service) : ""));
  const rows = data.services.concat(data.operations);
  if (!rows.length) { main.replaceChildren(el("h1", {}, "Metrics"), emptyState()); return; }
  let sortKey = q.get("sort") || "count";
  const columns = [["service", "Service"], ["operation", "Operation"], ["count", "Requests"], ["rate", "Rate/s"], ["errorRate", "Errors"],
    ["p50", "p50"], ["p95", "p95"], ["p99", "p99"]];
  const table = el("table", { id: "metrics" });
  function render() {
    const sorted = rows.slice().sort((a, b) => (typeof a[sortKey] === "number" ? b[sortKey] - a[sortKey] : String(a[sortKey] || "").localeCompare(String(b[sortKey] || ""))));
    table.replaceChildren(
      el("thead", {}, el("tr", {}, columns.map(([k, label]) => el("th", { class: "sortable" + (typeof rows[0][k] === "number" ? " num" : ""), "data-sort": k,
        onclick: () => { sortKey = k; render(); } }, label + (k === sortKey ? " ▾" : ""))), el("th", {}, "Rate"), el("th", {}, "Errors"), el("th", {}, "p95"))),
      el("tbody", {}, sorted.map((r) => el("tr", {},
        el("td", {}, r.service), el("td", {}, r.operation === null ? el("em", { class: "muted" }, "all") : r.operation),
        el("td", { class: "num" }, r.count), el("td", { class: "num" }, r.rate.toFixed(2)),
        el("td", { class: "num" }, r.errors ? el("span", { class: "badge err" }, pct(r.errorRate)) : "0.0%"),
        el("td", { class: "num" }, fmtDuration(r.p50)), el("td", { class: "num" }, fmtDuration(r.p95)), el("td", { class: "num" }, fmtDuration(r.p99)),
        el("td", {}, sparkline(r.series, "count")), el("td", {}, sparkline(r.series, "errors", "err")), el("td", {}, sparkline(r.series, "p95"))))));
  }
  render();
  const pick = el("select", { id: "lookback", onchange: (e) => { const n = new URLSearchParams(q); n.set("lookback", e.target.value); location.hash = "#/metrics?" + n; } },
    ["15m", "1h", "6h", "24h", "7d"].map((v) => el("option", { value: v, selected: v === lookback }, v)));
  main.replaceChildren(el("h1", {}, "Metrics" + (service ? " · " + service : "")),
    el("p", { class: "muted" }, "Window ", pick, ` · percentiles within ${pct(data.relativeError)} · `, service ? el("a", { href: "#/metrics" }, "all services") : ""), table);
}

// ---- routing --------------------------------------------------------------

async function route() {
  const { path, query } = params();
  const view = path.startsWith("/trace/") ? "trace" : path === "/map" ? "map" : path === "/metrics" ? "metrics" : "traces";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === view || (view === "trace" && a.dataset.view === "traces"));
  try {
    if (view === "trace") await viewTrace(decodeURIComponent(path.slice("/trace/".length)));
    else if (view === "map") await viewMap(query);
    else if (view === "metrics") await viewMetrics(query);
    else await viewTraces(query);
    main.setAttribute("data-ready", view);
  } catch (err) {
    if (!/token/.test(err.message)) showError(err);
  }
}

document.getElementById("auto-refresh").addEventListener("change", (e) => {
  clearInterval(refreshTimer);
  if (e.target.checked) refreshTimer = setInterval(() => { if (!params().path.startsWith("/trace/")) route(); }, 5000);
});
window.addEventListener("hashchange", route);
route();
