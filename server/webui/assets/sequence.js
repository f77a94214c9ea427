// sequence.js: trace events as a sequence diagram. chartArrows turns
// events into arrows between participants (clients and queues) the way
// msw-tail does (internal/cli/tail.go), mermaid and mscgen print them as
// msw-tail --mermaid and --mscgen do, and drawSequence draws them as SVG.

import { PREVIEW_LEN, summarizePayload } from "./summary.js";

// formatFixed prints v with digits decimals, rounding an exact tie to
// even as Go's fmt does (toFixed rounds it up).
function formatFixed(v, digits) {
  const scale = 10 ** digits;
  const twice = v * scale * 2;
  if (Number.isInteger(twice) && !Number.isInteger(v * scale)) {
    let n = Math.floor(v * scale);
    if (n % 2 !== 0) n++;
    return (n / scale).toFixed(digits);
  }
  return v.toFixed(digits);
}

// shortDuration prints a processing time given in microseconds with a
// precision that suits it.
export function shortDuration(micros) {
  if (micros < 1000) return `${micros}µs`;
  if (micros < 1e6) return formatFixed((micros * 1000) / 1e6, 1) + "ms";
  const sec = Math.trunc(micros / 1e6);
  const nsec = (micros % 1e6) * 1000;
  return formatFixed(sec + nsec / 1e9, 3) + "s";
}

// chartArrows turns events into arrows, one per event, and lists the
// participants in order of first appearance. An arrow has from, to,
// style ("send", "reply", "deliver", "ack", "drop", "note") and label.
export function chartArrows(events, verbose) {
  const arrows = [];
  const parts = [];
  const seen = new Set();
  const add = (p) => {
    if (!seen.has(p)) {
      seen.add(p);
      parts.push(p);
    }
    return p;
  };
  const width = verbose ? -1 : 30;
  for (const ev of events) {
    const from = ev.from || "(anonymous)";
    const queue = ev.queue || "";
    const size = ev.size || 0;
    const id = ev.message_id ? ` #${ev.message_id}` : "";
    let payload = "";
    if (size > 0 || ev.kind === "send" || ev.kind === "publish") {
      payload = ": " + summarizePayload(ev.preview || "", size, size > PREVIEW_LEN, width);
    }
    const a = { from: "", to: "", style: "send", label: "", seq: ev.seq };
    // set fills the arrow; participants are added from first, as msw-tail does.
    const set = (f, t, style, label) => {
      a.from = add(f);
      a.to = add(t);
      a.style = style;
      a.label = label;
    };
    switch (ev.kind) {
      case "send":
        if (ev.reply) {
          set(from, queue, "reply", "reply" + id + " (took " + shortDuration(ev.processing_us || 0) + ")" + payload);
        } else {
          set(from, queue, "send", "send" + id + payload);
        }
        break;
      case "publish": {
        // The topic is a participant of its own; the copies follow as
        // sends from the publisher to each queue.
        const n = ev.copies || 0;
        set(from, queue, "send", "publish to " + n + (n === 1 ? " queue" : " queues") + payload);
        break;
      }
      case "deliver":
        set(queue, ev.to || "", "deliver", "deliver" + id);
        break;
      case "ack":
        set(from, queue, "ack", "ack" + id);
        break;
      case "redeliver":
        set(from, queue, "drop", "give back" + id);
        break;
      case "withdraw":
        set(from, queue, "drop", "withdraw" + id);
        break;
      case "queue_create":
      case "queue_destroy": {
        const destroy = ev.kind === "queue_destroy";
        const label = (destroy ? "destroy " : "create ") + queue;
        if (!ev.from) {
          set(queue, queue, destroy ? "drop" : "note", label);
        } else {
          set(from, queue, destroy ? "drop" : "note", label);
        }
        break;
      }
      case "session_start":
        set(from, from, "note", "session start");
        break;
      case "session_end":
        set(from, from, "drop", "session end");
        break;
      default:
        set(from, from, "note", ev.kind);
    }
    arrows.push(a);
  }
  return { arrows, parts };
}

// replacer replaces each listed character in one pass, as Go's
// strings.Replacer does.
function replacer(table) {
  const re = new RegExp("[" + Object.keys(table).map((c) => "\\" + c).join("") + "]", "g");
  return (s) => s.replace(re, (c) => table[c]);
}

const mermaidEscape = replacer({ "#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", "%": "#37;", '"': "#quot;" });
const mscgenEscape = replacer({ "\\": "∖", '"': '\\"' });

// mermaid prints events as a Mermaid sequence diagram, one arrow per
// event, exactly as msw-tail --mermaid does.
export function mermaid(events, verbose) {
  const { arrows, parts } = chartArrows(events, verbose);
  const ids = new Map(parts.map((p, i) => [p, `p${i}`]));
  let out = "sequenceDiagram\n";
  parts.forEach((p, i) => {
    out += `    participant p${i} as ${mermaidEscape(p)}\n`;
  });
  const arrowOf = { send: "->>", reply: "-->>", deliver: "->>", ack: "-)", drop: "-x", note: "-)" };
  for (const a of arrows) {
    out += `    ${ids.get(a.from)}${arrowOf[a.style]}${ids.get(a.to)}: ${mermaidEscape(a.label)}\n`;
  }
  return out;
}

// mscgen prints events as an mscgen chart, exactly as msw-tail --mscgen
// does.
export function mscgen(events, verbose) {
  const { arrows, parts } = chartArrows(events, verbose);
  const ids = new Map(parts.map((p, i) => [p, `p${i}`]));
  let out = 'msc {\n  hscale = "2";\n';
  if (parts.length > 0) {
    out += "  " + parts.map((p, i) => `p${i} [label="${mscgenEscape(p)}"]`).join(",\n  ") + ";\n";
  }
  const arcs = { send: "->", reply: ">>", deliver: "=>", ack: "=>>", drop: "-x", note: ":>" };
  for (const a of arrows) {
    out += `  ${ids.get(a.from)} ${arcs[a.style]} ${ids.get(a.to)} [label="${mscgenEscape(a.label)}"];\n`;
  }
  return out + "}\n";
}

const SVG = "http://www.w3.org/2000/svg";

function svgEl(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

// Layout of the drawing, in pixels.
const COL = 170; // between lifelines
const ROW = 26; // between arrows
const HEAD = 40; // participant boxes
const LABEL = 26; // label characters before cutting (the full one is a tooltip)

// drawSequence draws events into svg: one lifeline per participant, one
// arrow per event, newest at the bottom. queues names the queues, drawn
// differently from clients.
export function drawSequence(svg, events, queues) {
  const { arrows, parts } = chartArrows(events, false);
  const x = new Map(parts.map((p, i) => [p, COL / 2 + i * COL]));
  const width = Math.max(parts.length * COL, COL);
  const height = HEAD + (arrows.length + 1) * ROW;
  svg.replaceChildren();
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const defs = svgEl("defs", {});
  for (const style of ["send", "reply", "deliver", "ack", "drop", "note"]) {
    const m = svgEl("marker", { id: `head-${style}`, viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    m.append(svgEl("path", { d: style === "drop" ? "M0,0 L10,10 M0,10 L10,0" : "M0,0 L10,5 L0,10 z", class: `head ${style}` }));
    defs.append(m);
  }
  svg.append(defs);
  parts.forEach((p) => {
    const px = x.get(p);
    const g = svgEl("g", { class: queues.has(p) ? "lifeline queue" : "lifeline client" });
    g.append(svgEl("line", { x1: px, y1: HEAD - 8, x2: px, y2: height }));
    g.append(svgEl("rect", { x: px - COL / 2 + 8, y: 4, width: COL - 16, height: HEAD - 14, rx: queues.has(p) ? 2 : 10 }));
    const name = svgEl("text", { x: px, y: 22, "text-anchor": "middle" }, shorten(p, 22));
    name.append(svgEl("title", {}, p));
    g.append(name);
    svg.append(g);
  });
  arrows.forEach((a, i) => {
    const y = HEAD + (i + 1) * ROW;
    const g = svgEl("g", { class: `arrow ${a.style}`, "data-seq": a.seq });
    const x1 = x.get(a.from);
    const x2 = x.get(a.to);
    if (x1 === x2) {
      g.append(svgEl("path", { d: `M${x1},${y - 8} h24 v10 h-20`, "marker-end": `url(#head-${a.style})` }));
      g.append(svgEl("text", { x: x1 + 30, y: y }, shorten(a.label, LABEL)));
    } else {
      g.append(svgEl("line", { x1: x1, y1: y, x2: x2, y2: y, "marker-end": `url(#head-${a.style})` }));
      g.append(svgEl("text", { x: (x1 + x2) / 2, y: y - 4, "text-anchor": "middle" }, shorten(a.label, LABEL + Math.floor(Math.abs(x2 - x1) / COL - 1) * 24)));
    }
    g.append(svgEl("title", {}, a.label));
    svg.append(g);
  });
}

function shorten(s, n) {
  const r = Array.from(s);
  return r.length > n ? r.slice(0, n - 1).join("") + "…" : s;
}
