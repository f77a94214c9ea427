// summary.js: a message's payload on one line, as msw-diag and msw-tail
// show it (internal/cli/diag.go, summarizePayload): a JSON-RPC request as
// method(params), a response as "result ..." or "error ...", anything
// longer than the width cut with "…" and its size.

// PREVIEW_LEN is how many payload bytes the switch shows of a message
// (wire.PreviewLen): a preview of a larger message is only its start.
export const PREVIEW_LEN = 64;

const rpcMethodRe = /"method"\s*:\s*"((?:[^"\\]|\\.)*)"/;
const rpcParamsRe = /"params"\s*:\s*(.*)$/;

// summarizePayload renders text (a preview, or all of a payload) of a
// payload of size bytes; cut says text is only its start; width < 0
// never cuts.
export function summarizePayload(text, size, cut, width) {
  if (size === 0) return "(empty)";
  let s = text;
  const t = text.trim();
  if (t.startsWith("{")) {
    const rpc = jsonRPC(t, cut);
    if (rpc !== null) s = rpc;
  }
  const runes = Array.from(s);
  if (width >= 0 && runes.length > width) {
    s = runes.slice(0, width).join("");
    cut = true;
  }
  return cut ? `${s}… (${size} bytes)` : s;
}

// jsonRPC recognises a JSON-RPC request or response, whole or cut; null
// when it is neither.
function jsonRPC(t, cut) {
  if (!cut) {
    const msg = rawMembers(t);
    if (msg !== null) {
      if (msg.method !== undefined && msg.method !== "") {
        return `${msg.method}(${compactJSON(msg.params || "")})`;
      }
      if (msg.error !== undefined && msg.error !== "null") return "error " + compactJSON(msg.error);
      if (msg.result !== undefined) return "result " + compactJSON(msg.result);
      return null;
    }
  }
  const m = rpcMethodRe.exec(t);
  if (m === null) return null;
  let s = m[1] + "(";
  const p = rpcParamsRe.exec(t);
  if (p !== null) {
    let rest = p[1].trim();
    if (!cut) {
      if (rest.endsWith("}")) rest = rest.slice(0, -1);
      rest = rest.trim();
    }
    s += rest;
  }
  if (!cut) s += ")";
  return s;
}

// rawMembers reads a JSON object and returns the raw text of its
// "params", "result" and "error" members and the decoded "method"; null
// when the text is not a JSON object or "method" is not a string.
function rawMembers(t) {
  let parsed;
  try {
    parsed = JSON.parse(t);
  } catch {
    return null;
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return null;
  if ("method" in parsed && parsed.method !== null && typeof parsed.method !== "string") return null;
  const out = {};
  if (typeof parsed.method === "string") out.method = parsed.method;
  // The text is valid JSON: walk its top-level members for raw values.
  let i = 1;
  const ws = () => { while (i < t.length && " \t\r\n".includes(t[i])) i++; };
  const skipString = () => {
    const start = i++;
    while (t[i] !== '"') i += t[i] === "\\" ? 2 : 1;
    i++;
    return t.slice(start, i);
  };
  const skipValue = () => {
    const start = i;
    if (t[i] === '"') {
      skipString();
    } else if (t[i] === "{" || t[i] === "[") {
      let depth = 0;
      do {
        if (t[i] === '"') { skipString(); continue; }
        if (t[i] === "{" || t[i] === "[") depth++;
        if (t[i] === "}" || t[i] === "]") depth--;
        i++;
      } while (depth > 0);
    } else {
      while (i < t.length && !",}] \t\r\n".includes(t[i])) i++;
    }
    return t.slice(start, i);
  };
  for (;;) {
    ws();
    if (t[i] === "}") break;
    const key = JSON.parse(skipString());
    ws(); i++; ws(); // the colon
    const raw = skipValue();
    if (key === "params" || key === "result" || key === "error") out[key] = raw;
    ws();
    if (t[i] === ",") i++;
  }
  return out;
}

// compactJSON drops the insignificant white space of JSON text, keeping
// everything else as written.
export function compactJSON(raw) {
  let out = "";
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (inString) {
      out += c;
      if (c === "\\") out += raw[++i];
      else if (c === '"') inString = false;
    } else if (c === '"') {
      inString = true;
      out += c;
    } else if (!" \t\r\n".includes(c)) {
      out += c;
    }
  }
  return out;
}
