// AgentGate dashboard: the approvals and policy pages (after app.js, whose helpers they use).
// Who may answer or save is decided by the server; these pages only show its answer.
"use strict";

const session = { name: null, role: null, csrf: null };
const RANK = { viewer: 1, approver: 2, editor: 3, admin: 4 };
const holds = (role) => (RANK[session.role] || 0) >= RANK[role];

async function loadSession() {
  try {
    const s = await getJSON("/v1/session");
    Object.assign(session, { name: s.name, role: s.role, csrf: s.csrf });
    const w = $("who"); if (w) w.textContent = `${s.name} (${s.role})`;
  } catch (e) { showError(e.message); }
}
async function send(method, url, body) {
  // A session needs its CSRF token; local mode and tokens need JSON (see server/_auth.py).
  const headers = { Accept: "application/json", "Content-Type": "application/json" };
  if (session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let r;
  try { r = await fetch(url, { method, headers, body: JSON.stringify(body) }); }
  catch (e) { throw new Error("the dashboard server did not answer"); }
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (!r.ok) { const err = new Error((data && data.error) || `HTTP ${r.status}`); err.data = data; err.status = r.status; throw err; }
  return data;
}
function roleNote(role, what) {
  const n = $("role-note");
  if (!session.role || holds(role)) { n.hidden = true; return; }
  n.hidden = false;
  n.textContent = `You are signed in as ${session.name} with role ${session.role}: you can see this page, but ${what} needs the ${role} role.`;
}
function age(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// ---------------------------------------------------------------- approvals page
const appr = { offset: 0, pending: [], drafts: new Map(), msgs: new Map() };

function escalationReason(req) {
  const f = (req && req.findings) || [];
  const parts = f.map((x) => `${x.rule_id}: ${x.message}`);
  if (req && req.note) parts.push(req.note);
  return parts.length ? parts.join("; ") : "escalated by the policy (no finding recorded)";
}
function answerCell(a) {
  const input = el("input", { type: "text", class: "wide reason", placeholder: "why", "aria-label": "reason",
    value: appr.drafts.get(a.id) || "" });
  input.addEventListener("input", () => appr.drafts.set(a.id, input.value));
  const msg = el("div", { class: "answer-msg flag", text: appr.msgs.get(a.id) || "" });
  const go = async (approve) => {
    const reason = input.value.trim();
    if (!reason) { msg.textContent = "give a reason: every answer says why"; appr.msgs.set(a.id, msg.textContent); input.focus(); return; }
    msg.textContent = "";
    try {
      await send("POST", `/v1/approvals/${encodeURIComponent(a.id)}/${approve ? "approve" : "deny"}`, { reason });
      appr.drafts.delete(a.id); appr.msgs.delete(a.id);
    } catch (e) { msg.textContent = e.status === 403 ? `refused: ${e.message}` : e.message; appr.msgs.set(a.id, msg.textContent); }
  };
  return el("td", { class: "answer" }, input,
    el("button", { type: "button", class: "approve", onclick: () => go(true), text: "Approve" }),
    el("button", { type: "button", class: "deny", onclick: () => go(false), text: "Deny" }), msg);
}
function renderApprovals(snap) {
  if (snap.error) { showError(snap.error); return; }
  showError(null);
  appr.offset = snap.now - Date.now() / 1000;  // the server's clock, for the ages
  appr.pending = snap.pending;
  const body = $("pending"); body.textContent = "";
  for (const a of snap.pending) {
    const req = a.request || {};
    body.append(el("tr", { class: "approval", "data-id": a.id },
      el("td", {}, el("div", { class: "mono", text: a.tool }),
        el("div", { class: "mono dim args", text: JSON.stringify(req.arguments || {}), title: JSON.stringify(req.arguments || {}) })),
      el("td", { text: a.agent_id || "–" }),
      el("td", {}, el("div", { class: "mono", text: a.task_id || "–" }), req.task ? el("div", { class: "dim", text: req.task }) : null),
      el("td", { class: "why", text: escalationReason(req) }),
      el("td", { class: "age", "data-created": a.created_at, "data-expires": a.expires_at }),
      answerCell(a)));
  }
  $("pending-title").textContent = `waiting for an answer (${snap.pending.length})`;
  const e = $("empty");
  e.hidden = snap.pending.length > 0;
  e.textContent = snap.pending.length ? "" : "Nothing is waiting for an answer. Calls escalated with on_escalate: ask and approver: queue appear here as they are made.";
  const rb = $("recent"); rb.textContent = "";
  if (!snap.recent.length) rb.append(el("tr", {}, el("td", { colspan: 6, class: "dim", text: "no answers yet" })));
  for (const a of snap.recent) rb.append(el("tr", {},
    el("td", { class: "mono", text: fmtTime(new Date((a.decided_at || a.expires_at) * 1000).toISOString()) }),
    el("td", { class: "mono", text: a.tool }), el("td", { text: a.agent_id || "–" }),
    el("td", {}, el("span", { class: "v " + (a.status === "approved" ? "allow" : a.status === "denied" ? "block" : "would"), text: a.status })),
    el("td", { text: a.decided_by || "" }), el("td", { text: a.reason || "" })));
  tickAges();
}
function tickAges() {
  const now = Date.now() / 1000 + appr.offset;
  for (const td of document.querySelectorAll("td.age")) {
    const c = Number(td.dataset.created), x = Number(td.dataset.expires);
    td.textContent = `${age(now - c)} (expires in ${age(x - now)})`;
  }
}
async function initApprovals() {
  await loadSession();
  roleNote("approver", "answering");
  const live = $("live");
  const es = new EventSource("/api/approvals/events");
  es.addEventListener("approvals", (ev) => { live.className = "pill live"; live.textContent = "live"; renderApprovals(JSON.parse(ev.data)); });
  es.onerror = () => { live.className = "pill off"; live.textContent = "live: reconnecting"; };
  setInterval(tickAges, 1000);
}

// ---------------------------------------------------------------- policy page
const pol = { head: null, text: "", checkTimer: null };

function selectLine(n) {
  const t = $("editor"), lines = t.value.split("\n");
  const start = lines.slice(0, n - 1).reduce((s, l) => s + l.length + 1, 0);
  t.focus(); t.setSelectionRange(start, start + (lines[n - 1] || "").length);
}
function showProblems(problems, okText) {
  const v = $("validation"); v.textContent = "";
  if (!problems || !problems.length) { v.className = "ok"; v.textContent = okText; return; }
  v.className = "";
  const ul = el("ul", { class: "problems" });
  for (const p of problems) {
    const where = [p.line ? `line ${p.line}` : null, p.key ? `key ${p.key}` : null].filter(Boolean).join(", ");
    ul.append(el("li", { class: "problem", onclick: () => p.line && selectLine(p.line) },
      el("span", { class: "where mono", text: where || "document" }), " ", el("span", { text: p.message })));
  }
  v.append(el("div", { class: "flag", text: `${problems.length} problem${problems.length === 1 ? "" : "s"}: nothing can be saved until they are fixed` }), ul);
}
async function validate() {
  try {
    const r = await send("POST", "/v1/policies/validate", { text: $("editor").value });
    showProblems(r.problems, r.ok ? `valid: would be revision ${r.revision}` : "");
    return r.ok;
  } catch (e) { showProblems([{ message: e.message }]); return false; }
}
function renderPreview(p) {
  const s = $("preview-summary"); s.textContent = ""; s.className = "";
  const kinds = Object.entries(p.summary || {}).map(([k, n]) => `${n} ${k}`).join(", ");
  const since = fmtTime(p.since);
  if (!p.trail) s.append("No audit trail yet: there are no recorded calls to replay.");
  else s.append(el("div", { class: "preview-counts", text:
    `${p.replayed.toLocaleString()} calls since ${since} replayed: ${p.changed ? `${p.changed} would be decided differently (${kinds})` : "none would be decided differently"}.` }),
    el("div", { class: "dim", text: `policy in force ${p.baseline_revision} → edit ${p.candidate_revision}` +
      (p.redacted ? `; ${p.redacted} had redacted arguments (replayed as recorded)` : "") }));
  if (p.cut) s.append(el("div", { class: "flag", text: `only the first ${p.limit.toLocaleString()} calls of the day were replayed: the rest are not in this preview` }));
  if (p.listed < p.changed) s.append(el("div", { class: "dim", text: `listing the first ${p.listed}` }));
  const body = $("preview-rows"); body.textContent = "";
  for (const c of p.changes) body.append(el("tr", { class: "flip" },
    el("td", { class: "mono", text: fmtTime(c.created_at) }), el("td", { text: c.agent_id || "–" }),
    el("td", {}, c.decision_id ? el("a", { href: "/decisions/" + encodeURIComponent(c.decision_id), text: c.tool_name }) : c.tool_name),
    el("td", {}, el("span", { class: "v " + c.before, text: c.before }), " → ", el("span", { class: "v " + c.after, text: c.after }),
      c.redacted ? el("span", { class: "flag", text: " redacted" }) : null),
    el("td", { class: "mono", text: c.rule_after || "" }), el("td", { text: c.reason_after || "" })));
}
async function previewEdit() {
  const s = $("preview-summary"); s.className = "dim"; s.textContent = "replaying the last day…";
  $("preview-rows").textContent = "";
  try { renderPreview(await send("POST", "/v1/policies/preview", { text: $("editor").value })); }
  catch (e) {
    s.className = "flag";
    s.textContent = e.status === 403 ? `refused: ${e.message}` : e.message;
    if (e.data && e.data.problems) showProblems(e.data.problems, "");
  }
}
async function save() {
  const out = $("save-result"); out.className = "dim"; out.textContent = "";
  const message = $("message").value.trim();
  if (!message) { out.className = "flag"; out.textContent = "say why the policy changes (the history keeps it)"; $("message").focus(); return; }
  try {
    const r = await send("POST", "/v1/policies", { text: $("editor").value, message });
    out.className = "ok"; out.textContent = `saved as revision ${r.revision}`;
    $("message").value = "";
    await loadPolicy(true);
  } catch (e) {
    out.className = "flag"; out.textContent = e.status === 403 ? `refused: ${e.message}` : e.message;
    if (e.data && e.data.problems) showProblems(e.data.problems, "");
  }
}
function revOption(h) { return el("option", { value: h.revision, text: `${h.revision} — ${h.message}` }); }
async function showDiff() {
  const a = $("diff-a").value, b = $("diff-b").value, pre = $("diff");
  pre.textContent = "";
  if (!a || !b) { pre.textContent = "pick two revisions"; return; }
  try {
    const d = await getJSON(`/v1/policies/diff?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`);
    if (!d.diff) { pre.textContent = "no difference"; return; }
    for (const line of d.diff.split("\n")) {
      const cls = line.startsWith("+++") || line.startsWith("---") ? "hdr" : line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "";
      pre.append(el("span", { class: cls, text: line + "\n" }));
    }
  } catch (e) { pre.textContent = e.message; }
}
async function loadPolicy(keepEdits) {
  let data;
  try { data = await getJSON("/v1/policies"); }
  catch (e) {
    if (/404|Not Found/.test(e.message)) {
      const m = $("empty"); m.hidden = false; m.textContent = "";
      m.append("No policy store: start the server with ", el("code", { text: "agentgate serve --store URL" }),
        " to see, edit and preview the policy here.");
      return;
    }
    showError(e.message); return;
  }
  $("policy").hidden = false;
  const h = data.head;
  pol.head = h;
  kv($("head"), h ? [["revision", h.revision], ["author", h.author], ["message", h.message], ["time", `${fmtTime(h.created_at)} (${TZ})`],
    ["in force here", data.in_force || "–"]] : [["revision", "none yet: the first save creates it"]]);
  const hb = $("history"); hb.textContent = "";
  const known = new Set(data.history.map((r) => r.revision));  // a parent older than the listed history has no option to diff with
  for (const r of data.history) hb.append(el("tr", { class: "rev", "data-rev": r.revision },
    el("td", { class: "mono", text: r.revision + (h && r.revision === h.revision && r.seq === h.seq ? " (head)" : "") }),
    el("td", { class: "mono", text: fmtTime(r.created_at) }), el("td", { text: r.author }), el("td", { text: r.message }),
    el("td", {}, r.parent && known.has(r.parent) && r.parent !== r.revision ? el("a", { href: "#diff", text: "diff with parent", onclick: () => { $("diff-a").value = r.parent; $("diff-b").value = r.revision; showDiff(); } }) : null)));
  const a = $("diff-a"), b = $("diff-b"); a.textContent = ""; b.textContent = "";
  const seen = new Set();
  for (const r of data.history) { if (seen.has(r.revision)) continue; seen.add(r.revision); a.append(revOption(r)); b.append(revOption(r)); }
  if (data.history.length > 1) { a.value = data.history[1].revision; b.value = data.history[0].revision; }
  if (!keepEdits || !$("editor").value) {
    pol.text = h ? (await getJSON("/v1/policies/" + encodeURIComponent(h.revision))).text : "";
    $("editor").value = pol.text;
  } else if (h) pol.text = (await getJSON("/v1/policies/" + encodeURIComponent(h.revision))).text;
}
async function initPolicy() {
  await loadSession();
  roleNote("editor", "saving or previewing an edit");
  $("check").addEventListener("click", validate);
  $("preview").addEventListener("click", previewEdit);
  $("save").addEventListener("click", save);
  $("reset").addEventListener("click", () => { $("editor").value = pol.text; validate(); });
  $("diff-show").addEventListener("click", showDiff);
  $("editor").addEventListener("input", () => {  // validate as one types, once the typing pauses
    clearTimeout(pol.checkTimer); pol.checkTimer = setTimeout(validate, 600);
  });
  await loadPolicy(false);
}

document.addEventListener("DOMContentLoaded", () => {
  const page = document.body.dataset.page;
  if (page === "approvals") initApprovals();
  else if (page === "policy") initPolicy();
});
