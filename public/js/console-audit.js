import { $, api, describeError, say, startConsole } from "./console-common.js";

// The audit log: each database's hash chain (GET /v1/admin/audit/verify, shown first) and one
// chain's entries, newest first, filtered by actor, action, target and time range, one cursor
// page at a time (GET /v1/admin/audit). Query: ?chain=&actor=&action=&target=&fromMs=&toMs=.

const params = new URLSearchParams(location.search);
const FIELDS = ["actor", "action", "target"];
let nextCursor = null;

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const short = (hash) => (hash.length > 12 ? `${hash.slice(0, 12)}…` : hash);

/** A datetime-local value (the browser's zone) as epoch ms, and back. */
const toMs = (value) => (value ? new Date(value).getTime() : null);
function toLocal(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

async function verify() {
  const list = $("verify");
  list.replaceChildren(el("li", { className: "hint", textContent: "Verifying…" }));
  const report = await api("GET", "/v1/admin/audit/verify");
  list.replaceChildren(
    ...report.chains.map((r) => {
      const status = r.ok
        ? [
            `verified: ${r.length} ${r.length === 1 ? "entry" : "entries"}`,
            el("span", { className: "head", textContent: `head hash ${short(r.headHash)}` }),
          ]
        : [
            `broken at index ${r.broken?.index}`,
            el("span", {
              className: "head",
              textContent: `${r.broken?.kind}, expected seq ${r.broken?.expectedSeq}, found ${r.broken?.foundSeq ?? "none"}`,
            }),
          ];
      const item = el(
        "li",
        { className: r.ok ? "ok" : "broken" },
        el("button", { type: "button", className: "chain-name", textContent: r.chain, title: "Show its entries" }),
        el("span", { className: "status" }, ...status),
      );
      item.dataset.chain = r.chain;
      item.title = r.headHash;
      item.querySelector("button").onclick = () => {
        $("chain").value = r.chain;
        search();
      };
      return item;
    }),
  );
  document.body.dataset.verified = report.ok ? "ok" : "broken";
  const select = $("chain");
  const chosen = params.get("chain") ?? select.value;
  select.replaceChildren(...report.chains.map((r) => el("option", { value: r.chain, textContent: r.chain })));
  select.value = report.chains.some((r) => r.chain === chosen) ? chosen : "control";
}

function detailCell(detail) {
  const compact = (v) => (v === null || v === undefined ? "—" : JSON.stringify(v));
  const text = `${compact(detail?.before)} → ${compact(detail?.after)}`;
  const cell = el("td", { className: "detail", textContent: text.length > 120 ? `${text.slice(0, 120)}…` : text });
  cell.title = JSON.stringify(detail, null, 2);
  return cell;
}

function row(e) {
  const time = el("td", { textContent: new Date(e.atMs).toLocaleString() });
  time.title = new Date(e.atMs).toISOString();
  const hash = el("td", {}, el("code", { textContent: short(e.hash) }));
  hash.title = `hash ${e.hash}\nprev ${e.prevHash}\ndigest ${e.digest}`;
  const tr = el(
    "tr",
    {},
    el("td", { className: "num", textContent: String(e.seq) }),
    time,
    el("td", { textContent: e.actor }),
    el("td", {}, el("code", { textContent: e.action })),
    el("td", { textContent: e.target }),
    el("td", {}, el("code", { className: "rid", textContent: e.requestId })),
    detailCell(e.detail),
    hash,
  );
  tr.dataset.seq = String(e.seq);
  tr.dataset.action = e.action;
  return tr;
}

function query(cursor) {
  const q = new URLSearchParams({ chain: $("chain").value, limit: "50" });
  for (const f of FIELDS) if ($(f).value.trim()) q.set(f, $(f).value.trim());
  const from = toMs($("from").value);
  const to = toMs($("to").value);
  if (from !== null) q.set("fromMs", String(from));
  if (to !== null) q.set("toMs", String(to));
  if (cursor) q.set("cursor", cursor);
  return q;
}

async function loadPage(cursor) {
  const q = query(cursor);
  const page = await api("GET", `/v1/admin/audit?${q}`);
  const body = $("entries").tBodies[0];
  if (!cursor) body.replaceChildren();
  body.append(...page.items.map(row));
  nextCursor = page.nextCursor;
  $("more").hidden = nextCursor === null;
  $("empty").hidden = body.rows.length > 0;
  q.delete("cursor");
  q.delete("limit");
  history.replaceState(null, "", `?${q}`);
  document.body.dataset.query = String(q);
  document.body.dataset.loaded = `${page.chain}:${body.rows.length}`;
  say("");
}

function search() {
  loadPage(null).catch((e) => say(describeError(e), true));
}

await startConsole();
for (const f of FIELDS) $(f).value = params.get(f) ?? "";
if (params.get("fromMs")) $("from").value = toLocal(Number(params.get("fromMs")));
if (params.get("toMs")) $("to").value = toLocal(Number(params.get("toMs")));
$("filters").onsubmit = (ev) => {
  ev.preventDefault();
  search();
};
$("chain").onchange = search;
$("more").onclick = () => loadPage(nextCursor).catch((e) => say(describeError(e), true));
$("reverify").onclick = () => verify().catch((e) => say(describeError(e), true));
try {
  await verify();
} catch (e) {
  say(describeError(e), true);
}
search();
