// history.js: the small chart of a queue's depth and send and ack rates,
// drawn from the samples of GET /v1/history.

const SVG = "http://www.w3.org/2000/svg";
const W = 180;
const H = 44;

// drawHistory draws samples (oldest first) taken every intervalMs into a
// new SVG element and returns it: depth as a filled area on its own
// scale, sent and acked per second as lines on a shared one.
export function drawHistory(samples, intervalMs, capacity) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "history");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const n = Math.max(capacity, 2);
  const x = (i) => W - ((samples.length - 1 - i) * W) / (n - 1);
  const secs = intervalMs / 1000;
  const maxDepth = Math.max(1, ...samples.map((s) => s.depth + s.in_flight));
  const maxRate = Math.max(1 / secs, ...samples.map((s) => Math.max(s.sent, s.acked) / secs));
  const y = (v, max) => H - 2 - (v / max) * (H - 4);
  const path = (cls, d) => {
    const p = document.createElementNS(SVG, "path");
    p.setAttribute("class", cls);
    p.setAttribute("d", d);
    svg.append(p);
  };
  if (samples.length > 0) {
    let area = `M${x(0)},${H}`;
    samples.forEach((s, i) => { area += ` L${x(i)},${y(s.depth + s.in_flight, maxDepth)}`; });
    path("depth", area + ` L${x(samples.length - 1)},${H} z`);
    for (const key of ["sent", "acked"]) {
      path(key, samples.map((s, i) => `${i ? "L" : "M"}${x(i)},${y(s[key] / secs, maxRate)}`).join(" "));
    }
  }
  const last = samples[samples.length - 1];
  const title = document.createElementNS(SVG, "title");
  title.textContent = last
    ? `now: depth ${last.depth}, in flight ${last.in_flight}, ${(last.sent / secs).toFixed(1)} sent/s, ${(last.acked / secs).toFixed(1)} acked/s; peak depth ${maxDepth}`
    : "no samples yet";
  svg.append(title);
  svg.dataset.samples = samples.length;
  svg.dataset.maxDepth = maxDepth;
  return svg;
}
