// AgentGate dashboard: plain JavaScript, no build step, no CDN. Everything from the trail is
// rendered with textContent (never innerHTML): arguments and reasons are attacker-controlled text.
"use strict";

const FILTERS = ["since", "until", "agent", "task", "user", "tool", "verdict", "rule", "tier", "revision", "text", "sort"];
const TZ = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k instanceof Node ? k : String(k));
  return e;
}
const $ = (id) => document.getElementById(id);

function zoneLabel() {
  const off = -new Date().getTimezoneOffset();
  const sign = off >= 0 ? "+" : "-";
  const hh = String(Math.floor(Math.abs(off) / 60)).padStart(2, "0"), mm = String(Math.abs(off) % 60).padStart(2, "0");
  return `times in ${TZ} (UTC${sign}${hh}:${mm})`;
}
function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return iso;
  return d.toLocaleString(undefined, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hour12: false });
}
function showError(msg) {
  const b = $("error");
  if (!msg) { b.hidden = true; b.textContent = ""; return; }
  b.hidden = false; b.className = "banner"; b.textContent = msg;
}
async function getJSON(url) {
  let r;
  try { r = await fetch(url, { headers: { Accept: "application/json" } }); }
  catch (e) { throw new Error("the dashboard server did not answer"); }
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) throw new Error((body && body.error) || `HTTP ${r.status}`);
  return body;
}
function verdictCell(r) {
  if (r.would_block && r.verdict === "allow") return el("span", { class: "v would", text: "would block" });
  return el("span", { class: "v " + r.verdict, text: r.verdict });
}
function argsText(r) {
  const a = r.payload && typeof r.payload === "object" ? r.payload.arguments : undefined;
  return a === undefined ? "" : JSON.stringify(a);
}
const decisionHref = (r) => "/decisions/" + encodeURIComponent(r.decision_id || r.id);

// ---------------------------------------------------------------- decisions page
function currentParams() {
  const p = new URLSearchParams(location.search), out = new URLSearchParams();
  for (const k of FILTERS) if (p.get(k)) out.set(k, p.get(k));
  return out;
}
function apiFilters(p) {  // the filters without the sort (counts, exports and live events ignore order)
  const q = new URLSearchParams(p); q.delete("sort"); return q;
}
function toLocalInput(iso) {
  const d = new Date(iso); if (isNaN(d)) return "";
  const z = new Date(d.getTime() - d.getTimezoneOffset() * 60000);
  return z.toISOString().slice(0, 19);
}
function fillForm(p) {
  const f = $("filters");
  for (const k of FILTERS) if (f.elements[k]) f.elements[k].value = p.get(k) || (k === "sort" ? "newest" : "");
  const since = p.get("since") || "", until = p.get("until") || "";
  const rel = ["1h", "24h", "7d", "30d"].includes(since) && !until;
  $("range").value = !since && !until ? "" : rel ? since : "custom";
  $("from").value = $("range").value === "custom" && since ? toLocalInput(/^\d+[smhdw]$/.test(since) ? Date.now() : since) : "";
  $("to").value = $("range").value === "custom" && until ? toLocalInput(until) : "";
  toggleCustom();
}
function toggleCustom() {
  const c = $("range").value === "custom";
  $("from-l").hidden = !c; $("to-l").hidden = !c;
}
function formParams() {
  const f = $("filters"), p = new URLSearchParams();
  for (const k of FILTERS) {
    if (k === "since" || k === "until") continue;
    const v = f.elements[k] && f.elements[k].value.trim();
    if (v && !(k === "sort" && v === "newest")) p.set(k, v);
  }
  const range = $("range").value;
  if (range === "custom") {  // datetime-local is in the viewer's zone: send it as an absolute UTC time
    if ($("from").value) p.set("since", new Date($("from").value).toISOString());
    if ($("to").value) p.set("until", new Date($("to").value).toISOString());
  } else if (range) p.set("since", range);
  return p;
}

const state = { next: null, shown: 0, problems: new Map(), es: null, refreshTimer: null, empty: false };

function markRow(tr, r) {
  const probs = state.problems.get(String(r.id));
  const cell = tr.lastChild;
  cell.textContent = "";
  tr.classList.toggle("tampered", !!probs);
  if (probs) cell.append(el("span", { class: "flag", title: probs.map((p) => p.message).join("\n"),
    text: probs.some((p) => p.kind === "deleted") ? "⚠ missing before" : "⚠ " + probs[0].kind }));
  else cell.append(el("span", { class: "dim", text: "✓" }));
}
function rowFor(r) {
  const tr = el("tr", { class: "row", "data-id": r.id, onclick: () => { location.href = decisionHref(r); } },
    el("td", { class: "mono", text: fmtTime(r.created_at), title: r.created_at }),
    el("td", { text: r.agent_id || "–" }),
    el("td", { class: "mono", text: r.task_id || "–" }),
    el("td", {}, el("a", { href: decisionHref(r), text: r.tool_name, onclick: (e) => e.stopPropagation() })),
    el("td", { class: "mono args", text: argsText(r), title: argsText(r) }),
    el("td", {}, verdictCell(r)),
    el("td", { class: "mono", text: r.policy_name || "" }),
    el("td", { text: r.tier_used ?? "" }),
    el("td", { class: "mono", text: r.latency_us == null ? "" : Math.round(r.latency_us) }),
    el("td", {}));
  markRow(tr, r);
  return tr;
}
function setEmpty(kind) {
  const e = $("empty");
  e.textContent = "";
  if (!kind) { e.hidden = true; return; }
  e.hidden = false;
  if (kind === "no-trail") e.append("No audit trail yet: run an agent with ", el("code", { text: "protect_all()" }),
    " and its decisions appear here as they are made.");
  else e.append("No decision matches these filters. ", el("a", { href: "/", text: "Clear the filters" }));
}
async function loadRows(append) {
  const p = currentParams();
  if (append && state.next) p.set("cursor", state.next);
  const data = await getJSON("/api/actions?" + p);
  const body = $("rows");
  if (!append) { body.textContent = ""; state.shown = 0; }
  for (const r of data.actions) body.append(rowFor(r));
  state.shown += data.actions.length;
  state.next = data.next;
  state.empty = !!data.empty;
  $("more").hidden = !data.next;
  $("shown").textContent = state.shown ? `${state.shown} shown` + (data.next ? ", more below" : "") : "";
  setEmpty(data.empty ? "no-trail" : state.shown === 0 ? "no-match" : null);
}
function topList(id, obj, key) {
  const ol = $(id); ol.textContent = "";
  const entries = Object.entries(obj || {});
  if (!entries.length) { ol.append(el("li", { class: "dim", text: "none" })); return; }
  for (const [name, n] of entries) {
    const p = currentParams(); p.set(key, name); p.delete("cursor");
    ol.append(el("li", {}, el("a", { href: "/?" + p, text: name }), " ", el("span", { class: "dim", text: n.toLocaleString() })));
  }
}
function fillList(id, obj) {
  const dl = $(id); dl.textContent = "";
  for (const k of Object.keys(obj || {})) dl.append(el("option", { value: k }));
}
function drawChart(tl) {
  const svg = $("chart"); svg.textContent = "";
  const pts = (tl && tl.points) || [];
  $("chart-title").textContent = `decisions per ${tl && tl.unit === "day" ? "day" : "hour"} (${TZ})`;
  if (!pts.length) return;
  const W = svg.clientWidth || 600, H = 120, max = Math.max(...pts.map((p) => (p.allow || 0) + (p.block || 0) + (p.escalate || 0)), 1);
  const bw = Math.max(1, W / pts.length - 1);
  const ns = "http://www.w3.org/2000/svg";
  pts.forEach((p, i) => {
    let y = H;
    for (const [k, color] of [["allow", "#3fb950"], ["escalate", "#a371f7"], ["block", "#f85149"]]) {
      const h = ((p[k] || 0) / max) * (H - 4);
      if (!h) continue;
      y -= h;
      const r = document.createElementNS(ns, "rect");
      r.setAttribute("x", i * (W / pts.length)); r.setAttribute("y", y); r.setAttribute("width", bw); r.setAttribute("height", h);
      r.setAttribute("fill", color);
      const t = document.createElementNS(ns, "title");
      t.textContent = `${fmtTime(p.t)}: ${p.allow || 0} allowed, ${p.block || 0} blocked, ${p.escalate || 0} escalated`;
      r.append(t); svg.append(r);
    }
  });
}
async function loadStats() {
  const s = await getJSON("/api/stats?" + apiFilters(currentParams()));
  const v = s.by_verdict || {};
  const n = (x) => (x || 0).toLocaleString();
  $("c-total").textContent = n(s.total); $("c-allow").textContent = n(v.allow); $("c-block").textContent = n(v.block);
  $("c-would").textContent = n(s.would_block); $("c-esc").textContent = n(v.escalate);
  const lat = s.latency_us || {};
  $("c-lat").textContent = lat.p50 == null ? "–" : `${lat.p50} / ${lat.p99}`;
  $("c-lat-l").textContent = lat.of ? `decision latency p50 / p99 (µs), newest ${lat.of.toLocaleString()}` : "decision latency p50 / p99 (µs)";
  topList("rules-top", s.by_rule, "rule"); topList("agents-top", s.by_agent, "agent"); topList("tools-top", s.by_tool, "tool");
  fillList("agents", s.by_agent); fillList("tools", s.by_tool); fillList("rules", s.by_rule);
  drawChart(s.timeline);
}
function showChain(rep) {
  const c = $("chain");
  state.problems = new Map();
  for (const p of rep.problems || []) {
    if (!p.record_id) continue;
    const k = String(p.record_id);
    state.problems.set(k, [...(state.problems.get(k) || []), p]);
  }
  if (rep.empty) { c.className = "pill"; c.textContent = "chain: no records"; }
  else if (rep.ok) { c.className = "pill ok"; c.textContent = "chain: intact"; }
  else { c.className = "pill bad"; c.textContent = `chain: ${rep.problems.length} problem${rep.problems.length === 1 ? "" : "s"}`; }
  c.title = rep.ok ? `verified up to record ${rep.verified_upto}` + (rep.full_at ? `; last full verification ${fmtTime(rep.full_at)}` : "")
    : rep.problems.map((p) => p.message).join("\n");
  for (const tr of $("rows").children) {
    const id = tr.getAttribute("data-id");
    if (id) markRow(tr, { id });
  }
}
async function loadVerify(full) {
  showChain(await getJSON("/api/verify" + (full ? "?full=1" : "")));
}
async function refreshAll() {
  try {
    await Promise.all([loadRows(false), loadStats(), loadVerify(false)]);
    showError(null);
  } catch (e) { showError(e.message); }
}
function scheduleRefresh() {  // new decisions arrived: recount and re-verify (incremental) at most once a second
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(async () => {
    state.refreshTimer = null;
    try { await Promise.all([loadStats(), loadVerify(false)]); showError(null); } catch (e) { showError(e.message); }
  }, 1000);
}
function connectLive() {
  if (state.es) state.es.close();
  const p = currentParams();
  const live = $("live");
  const es = new EventSource("/api/events?" + apiFilters(p));
  state.es = es;
  // "ready" (not onopen): the server has fixed the stream's starting point, nothing after it is missed.
  es.addEventListener("ready", () => { live.className = "pill live"; live.textContent = "live"; });
  es.onerror = () => { live.className = "pill off"; live.textContent = "live: reconnecting"; };
  es.addEventListener("decision", (ev) => {
    const r = JSON.parse(ev.data);
    const sort = p.get("sort") || "newest";
    if (sort !== "newest") return;  // other orders do not put new decisions on top
    if (state.empty || state.shown === 0) setEmpty(null);
    const tr = rowFor(r); tr.classList.add("fresh");
    $("rows").prepend(tr);
    state.shown += 1;
    $("shown").textContent = `${state.shown} shown` + (state.next ? ", more below" : "");
  });
  es.addEventListener("stats", scheduleRefresh);
  es.addEventListener("problem", (ev) => { try { showError(JSON.parse(ev.data).error); } catch (e) { /* ignore */ } });
}
function syncExports() {
  const q = apiFilters(currentParams());
  $("csv").href = "/api/export?" + new URLSearchParams([...q, ["format", "csv"]]);
  $("jsonl").href = "/api/export?" + new URLSearchParams([...q, ["format", "jsonl"]]);
}
function navigate(p) {
  history.pushState(null, "", p.toString() ? "/?" + p : "/");
  start();
}
function start() {
  fillForm(currentParams());
  syncExports();
  refreshAll();
  connectLive();
}
function initDecisions() {
  $("range").addEventListener("change", toggleCustom);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); navigate(formParams()); });
  $("clear").addEventListener("click", () => navigate(new URLSearchParams()));
  $("more").addEventListener("click", () => loadRows(true).catch((e) => showError(e.message)));
  $("reverify").addEventListener("click", () => loadVerify(true).then(() => showError(null)).catch((e) => showError(e.message)));
  window.addEventListener("popstate", start);
  start();
}

// ---------------------------------------------------------------- decision page
function kv(dl, pairs) {
  dl.textContent = "";
  for (const [k, v] of pairs) {
    if (v === null || v === undefined || v === "") continue;
    dl.append(el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v)));
  }
}
function linkBox(label, brief, status, cls) {
  return el("div", { class: "link " + cls }, el("div", { class: "dim", text: label }),
    brief ? el("div", {}, el("a", { href: "/decisions/" + encodeURIComponent(brief.id), text: `seq ${brief.seq}: ${brief.tool_name}` })) : null,
    brief ? el("div", { class: "mono dim", text: (brief.hash || "").slice(0, 16) + "…" }) : null,
    el("div", { class: cls === "good" ? "" : "flag", text: status }));
}
async function initDecision() {
  const key = decodeURIComponent(location.pathname.split("/").pop());
  let d;
  try { d = await getJSON("/api/actions/" + encodeURIComponent(key)); }
  catch (e) { showError(e.message); return; }
  if (d.empty) { showError(null); const b = $("error"); b.hidden = false; b.className = "banner info"; b.textContent = d.hint; return; }
  const a = d.action;
  document.title = `AgentGate — ${a.tool_name} (${a.verdict})`;
  $("title").textContent = "";
  $("title").append(`${a.tool_name} by ${a.agent_id || "an unnamed agent"}: `, verdictCell(a));
  $("decision").hidden = false;
  kv($("call"), [["tool", a.tool_name], ["arguments (redacted)", el("pre", { class: "mono", text: JSON.stringify(d.arguments, null, 2) })],
    ["agent", a.agent_id], ["task", a.task_id], ["user", a.user_id], ["time", `${fmtTime(a.created_at)} (${TZ})`],
    ["framework", a.framework], ["decision id", a.decision_id], ["record id", a.id], ["redacted", a.redacted ? "yes: secrets were masked before storing" : null]]);
  kv($("verdict"), [["verdict", verdictCell(a)], ["deciding rule", a.policy_name], ["severity", a.severity], ["reason", a.reasoning],
    ["tier", a.tier_used], ["mode", a.mode], ["latency", a.latency_us == null ? null : `${Math.round(a.latency_us)} µs`],
    ["policy revision", a.policy_revision ? el("a", { href: "/?revision=" + encodeURIComponent(a.policy_revision), text: a.policy_revision }) : null]]);
  const fb = $("findings"); fb.textContent = "";
  const findings = a.findings || [];
  if (!findings.length) fb.append(el("tr", {}, el("td", { colspan: 6, class: "dim", text: "no findings: no rule had anything to say about this call" })));
  for (const f of findings) fb.append(el("tr", {}, el("td", { class: "mono", text: f.rule_id }), el("td", { text: f.severity }),
    el("td", { text: f.effect }), el("td", { text: f.message }), el("td", { class: "mono", text: f.evidence || "" }), el("td", { text: f.argument || "" })));
  if (a.tier_used === 2 || a.judge_model) kv($("judge"), [["model", a.judge_model], ["reasoning", a.reasoning], ["confidence", a.confidence],
    ["blast radius", a.blast_radius], ["judge latency", a.judge_latency_ms == null ? null : `${Math.round(a.judge_latency_ms)} ms`]]);
  else { const j = $("judge"); j.textContent = ""; j.append(el("dd", { class: "dim", text: "not asked: tier 1 decided this call" })); }
  $("history-title").textContent = d.history.same_task ? `the agent's earlier actions in task ${a.task_id} (what the judge saw)` : "the agent's earlier actions (no task id recorded)";
  const hb = $("history"); hb.textContent = "";
  if (!d.history.actions.length) hb.append(el("tr", {}, el("td", { colspan: 5, class: "dim", text: "none: this is the first action" })));
  for (const r of d.history.actions) hb.append(el("tr", {}, el("td", { class: "mono", text: fmtTime(r.created_at) }),
    el("td", {}, el("a", { href: decisionHref(r), text: r.tool_name })), el("td", { class: "mono args", text: argsText(r) }),
    el("td", {}, verdictCell(r)), el("td", { class: "mono", text: r.policy_name || "" })));
  const c = d.chain, cv = $("chainview"), pb = $("problems");
  cv.textContent = ""; pb.textContent = "";
  for (const p of d.problems || []) pb.append(el("div", { class: "banner", text: `${p.kind}: ${p.message}` }));
  if (!c.in_chain) { cv.append(el("div", { class: "link bad" }, el("div", { class: "flag", text: "not part of any chain: written outside AgentGate?" }))); return; }
  const prev = c.seq === 1 ? el("div", { class: "link good" }, el("div", { class: "dim", text: "start of chain" }), el("div", { text: "genesis" }))
    : c.prev_missing ? linkBox(`seq ${c.seq - 1}`, null, "⚠ missing: this record was deleted", "missing")
    : linkBox("previous", c.prev, c.prev_ok ? "✓ linked" : "⚠ link broken: its hash is not this record's prev_hash", c.prev_ok ? "good" : "bad");
  const self = el("div", { class: "link " + (c.hash_ok ? "good" : "bad") }, el("div", { class: "dim", text: `this record: writer ${String(c.writer_id).slice(0, 12)}, seq ${c.seq}` }),
    el("div", { class: "mono dim", text: (c.hash || "").slice(0, 16) + "…" }),
    el("div", { class: c.hash_ok ? "" : "flag", text: c.hash_ok ? "✓ content matches its hash" : "⚠ tampered: content does not match its hash" }));
  const next = c.next ? linkBox("next", c.next, c.next_ok ? "✓ linked" : "⚠ link broken", c.next_ok ? "good" : "bad")
    : el("div", { class: "link" }, el("div", { class: "dim", text: "next" }), el("div", { text: "none yet (latest of its chain)" }));
  cv.append(prev, el("span", { class: "arrow", text: "→" }), self, el("span", { class: "arrow", text: "→" }), next);
}

document.addEventListener("DOMContentLoaded", () => {
  const tz = $("tz"); if (tz) tz.textContent = zoneLabel();
  const page = document.body.dataset.page;
  if (page === "decisions") { $("time-h").textContent = `time (${TZ})`; initDecisions(); }
  else if (page === "decision") initDecision();
});
