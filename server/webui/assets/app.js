// app.js: the switch's web page. It reads the same HTTP API as the tools
// (docs/protocol.md): the diagnostics snapshot (queues, sessions and the
// diagnosis of services) and the depth and rate history once a second,
// and the trace through its long-poll. It changes nothing unless the switch lets browsers write
// (msw-switch --ui-writes), and then only after a confirmation.

import { PREVIEW_LEN, summarizePayload } from "./summary.js";
import { drawSequence, mermaid, mscgen } from "./sequence.js";
import { drawHistory } from "./history.js";

const REFRESH_MS = 1000; // between two readings of queues, history and diagnostics
const STALE_MS = 30000; // as msw-diag's --stale: a service silent longer is stuck
const TRACE_POLL_MS = 25000; // how long one trace request waits for events
const TRACE_KEEP = 5000; // events the page holds
const TRACE_DRAW = 400; // events the diagram shows, newest

const writes = document.body.dataset.writes === "true";
const $ = (id) => document.getElementById(id);

// h builds an element: h("td", {class: "num"}, "3", child...).
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined && c !== false) el.append(c);
  }
  return el;
}

// APIError is an error answer of the switch, with its code and text.
class APIError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, signal) {
  const init = { method, headers: {}, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (!resp.ok) {
    let code = "", text = `${method} ${path}: HTTP ${resp.status}`;
    try {
      const e = await resp.json();
      code = e.code;
      text = e.error;
    } catch {
      // not the switch's JSON error: keep the status line
    }
    throw new APIError(resp.status, code, text);
  }
  return resp.status === 204 ? null : resp.json();
}

// age says how long ago t (an RFC 3339 time) was, before now (ms).
function age(t, now) {
  if (!t) return "";
  let s = Math.max(0, Math.floor((now - Date.parse(t)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(1)} GiB`;
}

function setStatus(text, bad) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("bad", bad);
}

// confirmThen asks before a change and reports its failure in the status.
async function confirmThen(question, action) {
  if (!window.confirm(question)) return;
  try {
    await action();
    refresh();
  } catch (e) {
    setStatus(e.message, true);
  }
}

// ---- Queues ----

function renderQueues(queues, history, now) {
  const hist = new Map(history.queues.map((q) => [q.queue, q]));
  const transientHist = history.queues.find((q) => q.kind === "transient"); // all of them, summed
  const rows = [];
  const transient = { depth: 0, in_flight: 0, subscribers: 0, bytes: 0, n: 0, oldest: "", patterns: new Set() };
  for (const q of queues) {
    if (q.kind === "transient") {
      transient.n++;
      transient.depth += q.depth;
      transient.in_flight += q.in_flight;
      transient.subscribers += q.subscribers;
      transient.bytes += q.bytes;
      for (const p of q.bindings || []) transient.patterns.add(p); // msw-sub's live subscriptions
      if (q.oldest_message && (!transient.oldest || q.oldest_message < transient.oldest)) transient.oldest = q.oldest_message;
      continue;
    }
    rows.push(queueRow(q.name, q.kind, q, hist.get(q.name), history.interval_ms, history.keep, now, true));
  }
  if (transient.n > 0 || transientHist) {
    const label = `(${transient.n} transient)`;
    const bindings = [...transient.patterns].sort();
    rows.push(queueRow(label, "transient", { ...transient, oldest_message: transient.oldest, bindings }, transientHist, history.interval_ms, history.keep, now, false));
  }
  $("queue-table").tBodies[0].replaceChildren(...rows);
  const mins = (history.interval_ms * history.keep) / 60000;
  $("history-span").textContent = mins >= 1 ? `${+mins.toFixed(1)} minutes` : `${(mins * 60).toFixed(0)} seconds`;
  $("queue-note").textContent = [
    queues.length === 0 ? "No queues yet." : "",
    history.untracked ? `${history.untracked} queues are not charted: the switch samples a bounded number.` : "",
  ].join(" ");
}

function queueRow(name, kind, q, hist, intervalMs, keep, now, destroyable) {
  const chart = drawHistory(hist ? hist.samples : [], intervalMs, keep);
  const actions = h("td", { class: "write-only" });
  if (writes && destroyable) {
    actions.append(h("button", {
      type: "button", class: "danger",
      onclick: () => confirmThen(`Destroy queue ${name} and the ${q.depth + q.in_flight} messages it holds?`,
        () => api("DELETE", "/v1/queues/" + encodeURIComponent(name))),
    }, "Destroy"));
  }
  return h("tr", { "data-queue": name },
    h("td", { class: "name" }, name),
    h("td", {}, kind),
    h("td", { class: "num depth" }, String(q.depth)),
    h("td", { class: "num" }, String(q.in_flight)),
    h("td", { class: "num" }, String(q.subscribers)),
    h("td", {}, age(q.oldest_message, now)),
    h("td", { class: "num" }, bytes(q.bytes)),
    bindingsCell(q.bindings || []),
    h("td", { class: "chart" }, chart),
    actions);
}

// bindingsCell lists the patterns a queue is bound to, each a code
// element, as msw-ls -l does.
function bindingsCell(patterns) {
  const cell = h("td", { class: "bindings" });
  patterns.forEach((p, i) => cell.append(i ? " " : "", h("code", { class: "pattern" }, p)));
  return cell;
}

// ---- Services ----

const SECTIONS = [
  ["running", "Running"],
  ["never_started", "Called but never started"],
  ["stuck", "Crashed or deadlocked"],
  ["gone", "Stopped or died (no server subscribed now)"],
  ["work", "Work queues (no reply expected)"],
];

function renderServices(snap, now) {
  const diag = snap.services;
  const queues = new Map(snap.queues.map((q) => [q.name, q]));
  const out = [];
  if (diag.services.length === 0) out.push(h("p", { class: "note" }, "There are no known services (yet)."));
  for (const [state, title] of SECTIONS) {
    const svcs = diag.services.filter((s) => s.state === state);
    if (svcs.length === 0) continue;
    const heading = state === "stuck" ? `${title} (nobody has polled for more than ${diag.stale_ms / 1000} s)` : title;
    out.push(h("h3", { class: `group ${state}` }, heading));
    for (const svc of svcs) out.push(serviceCard(svc, queues.get(svc.queue), now));
  }
  if (diag.uncollected.length > 0) {
    out.push(h("h3", { class: "group uncollected" }, "Replies nobody collected"));
    for (const name of diag.uncollected) {
      const q = queues.get(name);
      const card = h("div", { class: "service uncollected", "data-queue": name },
        h("div", { class: "head" }, h("b", {}, name), ` reply queue of ${q.owner || "?"}: ${q.depth} waiting`));
      for (const m of q.messages) if (!m.in_flight) card.append(messageLine(q, m, "", now));
      out.push(card);
    }
  }
  if (diag.idle.length > 0) {
    out.push(h("p", { class: "note" }, "Idle queues (no server, nothing queued): " + diag.idle.join(", ")));
  }
  $("service-list").replaceChildren(...out);
}

function serviceCard(svc, q, now) {
  const head = [];
  if (svc.servers && svc.servers.length) head.push(`${svc.servers.length} server${svc.servers.length === 1 ? "" : "s"} (${svc.servers.join(", ")})`);
  if (q.depth) head.push(`${q.depth} queued`);
  if (q.in_flight) head.push(`${q.in_flight} in flight`);
  if (svc.reason) head.push(svc.reason);
  const card = h("div", { class: `service ${svc.state}`, "data-queue": svc.queue, "data-state": svc.state },
    h("div", { class: "head" }, h("b", {}, svc.queue), head.length ? ": " + head.join("; ") : ""));
  q.messages.forEach((m, i) => card.append(messageLine(q, m, svc.callers[i], now)));
  if (q.truncated) card.append(h("div", { class: "note" }, `… and ${q.depth + q.in_flight - q.messages.length} more`));
  return card;
}

function messageLine(q, m, caller, now) {
  let state = "queued";
  if (m.in_flight) {
    state = `in flight at ${m.holder}` + (m.delivery_count > 1 ? ` (delivery ${m.delivery_count})` : "");
  } else if (m.delivery_count > 0) {
    state = `queued again after ${m.delivery_count} deliveries`;
  }
  const line = h("div", { class: "message", "data-id": String(m.id) },
    h("span", { class: "id" }, `#${m.id}`),
    ` from ${m.origin || "an anonymous sender"}, ${age(m.enqueued_at, now)} ago, ${state}`,
    m.status ? h("span", { class: "failure" }, ` status ${m.status}`) : null,
    h("div", { class: "payload" }, summarizePayload(m.preview, m.size, m.size > PREVIEW_LEN, 60)),
    caller ? h("div", { class: "caller" }, "caller: " + caller) : null);
  if (writes) {
    line.append(h("button", {
      type: "button", class: "danger",
      onclick: () => confirmThen(`Ack message #${m.id} of ${q.name} by hand? It is deleted as if its receiver had processed it.`,
        () => api("POST", "/v1/ack", { acks: { [q.name]: [m.id] } })),
    }, "Ack"));
  }
  return line;
}

// ---- Refresh loop ----

let refreshing = false;

async function refresh() {
  if (refreshing) return;
  refreshing = true;
  try {
    const [history, snap] = await Promise.all([
      api("GET", "/v1/history"),
      api("GET", `/v1/diagnostics?stale_ms=${STALE_MS}&max_messages=20`),
    ]);
    const now = Date.parse(snap.now);
    $("switch-info").textContent = `at ${location.host}, started ${new Date(snap.started).toLocaleString()}`;
    if (trace.started !== snap.started) {
      if (trace.started !== null) restartTrace(); // a new switch numbers its events afresh
      trace.started = snap.started;
    }
    renderQueues(snap.queues, history, now);
    renderServices(snap, now);
    setStatus(`live · updated ${new Date(now).toLocaleTimeString()}`, false);
  } catch (e) {
    setStatus(`switch not reachable: ${e.message}`, true);
  } finally {
    refreshing = false;
  }
}

// ---- Trace ----

const trace = { events: [], next: 0, lost: 0, paused: false, unseen: 0, started: null, abort: null, drawing: null };

// restartTrace forgets the events of a switch that restarted and reads
// the new one's from its start.
function restartTrace() {
  trace.events = [];
  trace.next = 0;
  trace.lost = 0;
  if (trace.abort) trace.abort.abort();
  scheduleDraw();
}

// scheduleDraw redraws the diagram soon, once however many batches of
// events arrive meanwhile, unless it is paused.
function scheduleDraw() {
  if (trace.drawing !== null) return;
  trace.drawing = setTimeout(() => {
    trace.drawing = null;
    if (!trace.paused) drawTrace();
  }, 50);
}

function filtered() {
  const f = $("filter").value.trim().toLowerCase();
  if (!f) return trace.events;
  return trace.events.filter((ev) => [ev.queue, ev.from, ev.to].some((s) => s && s.toLowerCase().includes(f)));
}

function drawTrace() {
  const evs = filtered();
  const shown = evs.slice(-TRACE_DRAW);
  const queues = new Set(trace.events.filter((ev) => ev.queue).map((ev) => ev.queue));
  drawSequence($("sequence"), shown, queues);
  const scroll = $("sequence-scroll");
  scroll.scrollTop = scroll.scrollHeight;
  let text = `${evs.length} events`;
  if (shown.length < evs.length) text += `, the last ${shown.length} drawn`;
  if (trace.lost) text += `; ${trace.lost} lost (the switch's trace ring overflowed)`;
  $("trace-count").textContent = text;
}

// rest waits ms, or less if the trace restarts meanwhile.
function rest(ms) {
  const signal = trace.abort.signal;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

async function followTrace() {
  let timeout = 0;
  for (;;) {
    trace.abort = new AbortController();
    const asked = Date.now();
    try {
      const tr = await api("GET", `/v1/trace?after=${trace.next}&max=1000&timeout_ms=${timeout}`, undefined, trace.abort.signal);
      const events = tr.events || []; // a switch keeping no trace answers null
      trace.lost += tr.lost || 0;
      trace.next = tr.next;
      if (events.length > 0) {
        trace.events.push(...events);
        if (trace.events.length > TRACE_KEEP) trace.events.splice(0, trace.events.length - TRACE_KEEP);
        if (trace.paused) {
          trace.unseen += events.length;
          $("pause").textContent = `Resume (${trace.unseen} new)`;
        } else {
          scheduleDraw();
        }
      }
      if (events.length === 0 && timeout > 0 && Date.now() - asked < 1000) {
        // A long-poll that ends at once with nothing: the switch keeps no
        // trace (--trace-size 0) or is stopping. Ask again a little later.
        $("trace-count").textContent = "no events: the switch may keep no trace (msw-switch --trace-size)";
        await rest(5000);
      }
      timeout = events.length >= 1000 ? 0 : TRACE_POLL_MS;
    } catch (e) {
      if (e.name === "AbortError") {
        timeout = 0; // the switch restarted: read its events from the start
        continue;
      }
      setStatus(`trace: ${e.message}`, true);
      await rest(2000);
    }
  }
}

function showExport(text, name) {
  $("export-text").value = text;
  const link = $("export-download");
  URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
  link.download = name;
  $("export").hidden = false;
}

function setup() {
  if (writes) $("writes").hidden = false;
  document.body.classList.toggle("writes", writes);
  $("pause").addEventListener("click", () => {
    trace.paused = !trace.paused;
    trace.unseen = 0;
    $("pause").textContent = trace.paused ? "Resume" : "Pause";
    if (!trace.paused) drawTrace();
  });
  $("filter").addEventListener("input", drawTrace);
  $("export-mermaid").addEventListener("click", () => showExport(mermaid(filtered(), false), "trace.mmd"));
  $("export-mscgen").addEventListener("click", () => showExport(mscgen(filtered(), false), "trace.msc"));
  $("export-close").addEventListener("click", () => { $("export").hidden = true; });
  drawTrace();
  refresh();
  setInterval(refresh, REFRESH_MS);
  followTrace();
}

setup();
