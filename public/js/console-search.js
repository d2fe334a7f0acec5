import { $, api, describeError, refreshProposalsBadge, say, startConsole } from "./console-common.js";

// Search and detail over the whole sharded ledger (GET /v1/admin/search/{kind}, one opaque-cursor
// page at a time; GET /v1/admin/search/{kind}/{id} for one record with its transitions and the
// ledger operations behind it), and the actions the operator's permissions allow from a detail:
// reverse a tip (always four-eyed: answered 202 with a proposal), refund an order, adjust a
// wallet (four-eyed above their thresholds). There is no user ban in giftwire, so no ban button.
// The query is the page's address: ?kind=&id=&userId=&creatorId=&roomId=&orderId=&contentId=&contentKind=&state=&fromMs=&toMs=&open=

// The filters each kind takes and its states (the API refuses others: search_filter_unsupported).
const KINDS = {
  users: { filters: ["id", "userId"], states: [] },
  creators: { filters: ["id", "creatorId", "roomId", "state"], states: ["active", "held"] },
  tips: { filters: ["id", "userId", "creatorId", "roomId", "contentId"], states: [] },
  packets: { filters: ["id", "userId", "creatorId", "roomId", "state"], states: ["open", "exhausted", "refunded"] },
  orders: {
    filters: ["id", "userId", "state"],
    states: ["created", "pending", "succeeded", "failed", "closed", "refunded"],
  },
  refunds: { filters: ["id", "userId", "orderId", "state"], states: ["requested", "pending", "succeeded", "failed"] },
  withdrawals: {
    filters: ["id", "creatorId", "state"],
    states: ["requested", "approved", "rejected", "paying", "paid", "failed"],
  },
  unlocks: { filters: ["id", "userId", "creatorId", "contentId", "state"], states: ["active", "revoked"] },
  content: { filters: ["id", "creatorId", "contentKind", "state"], states: ["active", "archived"] },
};
const TEXT_FILTERS = ["id", "userId", "creatorId", "roomId", "orderId", "contentId"];
const SELECT_FILTERS = ["state", "contentKind"];
const PAGE_SIZE = 20;

let permissions = new Set();
/** The cursor of each page shown so far, this one last (the first page's is null); the next page's. */
let stack = [null];
let nextCursor = null;

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** Integer fen as yuan for reading ("12.34"); the API's exact figure stays in the title. */
function yuan(minor, currency) {
  if (minor === null || minor === undefined) return "";
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, "0")}${currency ? ` ${currency}` : ""}`;
}
const time = (ms) => (ms ? new Date(ms).toLocaleString([], { dateStyle: "short", timeStyle: "medium" }) : "");
const toMs = (value) => (value ? new Date(value).getTime() : null);
function toLocal(ms) {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

/** Shows the filters the chosen kind takes and its states. */
function fitForm() {
  const kind = KINDS[$("kind").value];
  for (const name of TEXT_FILTERS) {
    const input = $(name);
    const on = kind.filters.includes(name);
    input.disabled = !on;
    input.closest("label").hidden = !on;
    if (!on) input.value = "";
  }
  const state = $("state");
  const chosen = state.value;
  state.replaceChildren(
    el("option", { value: "", textContent: "any" }),
    ...kind.states.map((s) => el("option", { value: s, textContent: s })),
  );
  state.value = kind.states.includes(chosen) ? chosen : "";
  state.closest("label").hidden = kind.states.length === 0;
  const contentKind = $("contentKind");
  contentKind.closest("label").hidden = !kind.filters.includes("contentKind");
  if (contentKind.closest("label").hidden) contentKind.value = "";
}

function query() {
  const kind = $("kind").value;
  const q = new URLSearchParams();
  for (const name of TEXT_FILTERS) {
    const value = $(name).value.trim();
    if (value && KINDS[kind].filters.includes(name)) q.set(name, value);
  }
  for (const name of SELECT_FILTERS) if ($(name).value) q.set(name, $(name).value);
  const from = toMs($("from").value);
  const to = toMs($("to").value);
  if (from !== null) q.set("fromMs", String(from));
  if (to !== null) q.set("toMs", String(to));
  return { kind, q };
}

function link(label, kind, filters) {
  const a = el("a", { href: "#", textContent: label, className: "chip-link" });
  a.onclick = (e) => {
    e.preventDefault();
    $("kind").value = kind;
    fitForm();
    for (const name of TEXT_FILTERS) $(name).value = filters[name] ?? "";
    for (const name of SELECT_FILTERS) $(name).value = filters[name] ?? "";
    $("from").value = $("to").value = "";
    search();
  };
  return a;
}

function row(item) {
  const open = el("button", { type: "button", className: "link", textContent: item.id, title: "Open" });
  open.onclick = () => openDetail(item.kind, item.id);
  const tr = el(
    "tr",
    {},
    el("td", { textContent: time(item.atMs), title: String(item.atMs) }),
    el("td", { className: "rid" }, open),
    el("td", {}, item.state ? el("span", { className: `state ${item.state}`, textContent: item.state }) : ""),
    el("td", { textContent: item.userId ?? "" }),
    el("td", { textContent: item.creatorId ?? "" }),
    el("td", { className: "rid", textContent: item.roomId ?? item.contentId ?? "" }),
    el("td", {
      className: "num",
      textContent: yuan(item.amountMinor, item.currency),
      title: String(item.amountMinor ?? ""),
    }),
    el("td", { className: "detail", textContent: item.summary }),
    el("td", { className: "num", textContent: item.shard === null ? "control" : String(item.shard) }),
  );
  tr.dataset.id = item.id;
  tr.dataset.kind = item.kind;
  if (item.state) tr.dataset.state = item.state;
  return tr;
}

/** Loads the page at the top of the stack of the form's query. */
async function load() {
  const cursor = stack.at(-1);
  const { kind, q } = query();
  const shown = new URLSearchParams(q);
  shown.set("kind", kind);
  history.replaceState(null, "", `${location.pathname}?${shown}`);
  if (cursor) q.set("cursor", cursor);
  q.set("limit", String(PAGE_SIZE));
  const page = await api("GET", `/v1/admin/search/${kind}?${q}`);
  $("results")
    .querySelector("tbody")
    .replaceChildren(...page.items.map(row));
  $("empty").hidden = page.items.length > 0;
  nextCursor = page.nextCursor;
  $("next").hidden = nextCursor === null;
  $("prev").hidden = $("first").hidden = stack.length === 1;
  $("page-no").textContent = stack.length > 1 || nextCursor ? `page ${stack.length}` : "";
  say(
    `${page.items.length} shown · ${page.read.statements} ${page.read.statements === 1 ? "database" : "shards"} read`,
  );
  document.body.dataset.query = `${kind}?${shown}`;
  document.body.dataset.results = String(page.items.length);
  document.body.dataset.page = String(stack.length);
}

function search() {
  stack = [null];
  load().catch((e) => say(describeError(e), true));
}

// ---- the detail ----

function recordList(record) {
  return Object.entries(record).flatMap(([k, v]) => {
    const value = v === null ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v);
    const dd = el("dd", { textContent: value });
    if (k.endsWith("_minor") && typeof v === "number") dd.title = yuan(v);
    dd.dataset.field = k;
    return [el("dt", { textContent: k }), dd];
  });
}

function operationCard(op) {
  const transfers = el(
    "table",
    { className: "entries postings" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { textContent: "From" }),
        el("th", { textContent: "To" }),
        el("th", { textContent: "Amount" }),
      ),
    ),
    el(
      "tbody",
      {},
      ...op.transfers.map((t) =>
        el(
          "tr",
          {},
          el("td", { className: "rid", textContent: t.from }),
          el("td", { className: "rid", textContent: t.to }),
          el("td", { className: "num", textContent: yuan(t.amountMinor, t.currency), title: String(t.amountMinor) }),
        ),
      ),
    ),
  );
  const card = el(
    "div",
    { className: "operation" },
    el(
      "p",
      { className: "meta" },
      el("code", { className: "op-id", textContent: op.id }),
      ` · ${op.kind} · ${yuan(op.amountMinor, op.currency)} · shard ${op.shard} · ${op.state} · by ${op.actorId} · ${time(op.createdAtMs)}`,
      op.reason ? ` · “${op.reason}”` : "",
    ),
    el("div", { className: "table-box" }, transfers),
  );
  card.dataset.id = op.id;
  return card;
}

function relatedBlock(related) {
  const parts = Object.entries(related).filter(
    ([, v]) => v !== null && v !== false && !(Array.isArray(v) && v.length === 0),
  );
  return parts.map(([k, v]) =>
    el(
      "details",
      { className: "related", open: Array.isArray(v) ? v.length <= 5 : true },
      el("summary", { textContent: Array.isArray(v) ? `${k} (${v.length})` : k }),
      el("pre", { textContent: JSON.stringify(v, null, 2) }),
    ),
  );
}

/**
 * The answer of an action: done (201/200), or kept as a four-eyes proposal (202). A done action
 * reloads the detail, whose actions change with the record; `again(box)` carries the outcome over
 * to the reloaded panel so the operator still reads what happened.
 */
function actionOutcome(box, res, title, again) {
  box.dataset.status = String(res.status);
  box.className = "action-result ok";
  if (res.status === 202) {
    const p = res.body.proposal;
    box.dataset.proposal = p.id;
    box.replaceChildren(
      el("strong", { textContent: "Proposed — waiting for a second operator. " }),
      `${p.summary} `,
      el("a", { href: "/console/proposals.html", textContent: `Proposal ${p.id}` }),
      ` (needs ${p.permission}; expires ${new Date(p.expiresAtMs).toLocaleString()}).`,
    );
    refreshProposalsBadge();
    return;
  }
  box.replaceChildren(el("strong", { textContent: `Done (${res.status}): ` }), title);
  again(box);
}

/** A small form for one action: its fields, a submit, the outcome. One Idempotency-Key per form until it succeeds. */
function actionForm({ title, fields, submit, run }) {
  let idempotencyKey = crypto.randomUUID();
  const box = el("p", { className: "action-result", role: "status" });
  const form = el("form", { className: "action controls" }, el("strong", { textContent: title }), ...fields);
  const button = el("button", { type: "submit", className: "button", textContent: submit });
  form.append(button);
  form.onsubmit = async (e) => {
    e.preventDefault();
    button.disabled = true;
    const target = current; // the record this form belongs to, whatever is opened meanwhile
    try {
      const res = await run(idempotencyKey);
      idempotencyKey = crypto.randomUUID();
      actionOutcome(box, res, title, (outcome) => {
        openDetail(target.kind, target.id, outcome);
        // The results list shows the record's state too: the page shown is read again.
        if (document.body.dataset.query !== undefined) load().catch((e) => say(describeError(e), true));
      });
    } catch (err) {
      box.className = "action-result error";
      box.dataset.status = String(err.status ?? "error");
      box.textContent = describeError(err);
    } finally {
      button.disabled = false;
    }
  };
  return el("div", { className: "action-box" }, form, box);
}

/** A request whose 202 (a proposal) is an answer, not an error: the body and status both. */
async function send(method, path, body, idempotencyKey) {
  const data = await api(method, path, body, idempotencyKey);
  return { status: data?.proposal !== undefined ? 202 : 201, body: data };
}

const input = (name, props) => {
  const node = el("input", { name, ...props });
  node.setAttribute("aria-label", props.placeholder ?? name);
  return node;
};

function actionsFor(detail) {
  const out = [];
  const r = detail.record;
  if (detail.kind === "tips" && permissions.has("tip.reverse") && !r.reversed) {
    const reason = input("reason", { type: "text", placeholder: "Reason", required: true, maxLength: 500 });
    out.push(
      actionForm({
        title: "Reverse this tip (four-eyed)",
        fields: [reason],
        submit: "Request reversal",
        run: (key) => send("POST", `/v1/admin/tips/${detail.id}/reversal`, { reason: reason.value.trim() }, key),
      }),
    );
  }
  if (detail.kind === "unlocks" && permissions.has("tip.reverse") && r.state === "active" && !r.refunded) {
    const reason = input("reason", { type: "text", placeholder: "Reason", required: true, maxLength: 500 });
    out.push(
      actionForm({
        title: "Refund this unlock (four-eyed; revokes the entitlement)",
        fields: [reason],
        submit: "Request refund",
        run: (key) => send("POST", `/v1/admin/unlocks/${detail.id}/refund`, { reason: reason.value.trim() }, key),
      }),
    );
  }
  if (detail.kind === "content" && permissions.has("content.manage")) {
    const archive = r.status === "active";
    out.push(
      actionForm({
        title: archive ? "Archive this item (no new unlocks; entitlements stay)" : "Unarchive this item",
        fields: [],
        submit: archive ? "Archive" : "Unarchive",
        run: async () => ({
          status: 200,
          body: await api("PATCH", `/v1/admin/content/${detail.id}`, { status: archive ? "archived" : "active" }),
        }),
      }),
    );
    const price = input("price", {
      type: "text",
      placeholder: "Price, e.g. 6.00 (empty: free)",
      size: 14,
      pattern: "\\d+(\\.\\d{1,2})?",
    });
    out.push(
      actionForm({
        title: "Reprice (later unlocks)",
        fields: [price],
        submit: "Save price",
        run: async () => ({
          status: 200,
          body: await api("PATCH", `/v1/admin/content/${detail.id}`, { price: price.value.trim() || null }),
        }),
      }),
    );
  }
  if (detail.kind === "orders" && permissions.has("refund.create") && ["succeeded", "refunded"].includes(r.state)) {
    const amount = input("amount", { type: "text", placeholder: "Amount, e.g. 18.80", required: true, size: 10 });
    const reason = input("reason", { type: "text", placeholder: "Reason", required: true, maxLength: 500 });
    out.push(
      actionForm({
        title: "Refund this order",
        fields: [amount, reason],
        submit: "Refund",
        run: (key) =>
          send(
            "POST",
            `/v1/admin/payments/orders/${detail.id}/refunds`,
            { amount: amount.value.trim(), reason: reason.value.trim() },
            key,
          ),
      }),
    );
  }
  if (detail.kind === "users" && permissions.has("wallet.adjust")) {
    const direction = el(
      "select",
      { name: "direction" },
      el("option", { value: "credit", textContent: "credit" }),
      el("option", { value: "debit", textContent: "debit" }),
    );
    direction.setAttribute("aria-label", "Direction");
    const amount = input("amount", { type: "text", placeholder: "Amount, e.g. 18.80", required: true, size: 10 });
    const reason = input("reason", { type: "text", placeholder: "Reason", required: true, maxLength: 500 });
    out.push(
      actionForm({
        title: "Adjust the wallet",
        fields: [direction, amount, reason],
        submit: "Adjust",
        run: (key) =>
          send(
            "POST",
            `/v1/users/${encodeURIComponent(detail.id)}/wallet/adjustments`,
            { direction: direction.value, amount: amount.value.trim(), reason: reason.value.trim() },
            key,
          ),
      }),
    );
  }
  return out;
}

function linksFor(detail) {
  const r = detail.record;
  switch (detail.kind) {
    case "users":
      return [
        link("Their tips", "tips", { userId: detail.id }),
        link("Their orders", "orders", { userId: detail.id }),
        link("Their red packets", "packets", { userId: detail.id }),
        link("Their refunds", "refunds", { userId: detail.id }),
        link("Their unlocks", "unlocks", { userId: detail.id }),
        ...(detail.related.isCreator ? [link("As a creator", "creators", { id: detail.id })] : []),
      ];
    case "creators":
      return [
        link("Tips to them", "tips", { creatorId: detail.id }),
        link("Their withdrawals", "withdrawals", { creatorId: detail.id }),
        link("Red packets in their room", "packets", { creatorId: detail.id }),
        link("Their content", "content", { creatorId: detail.id }),
        link("Unlocks of their content", "unlocks", { creatorId: detail.id }),
        link("Their wallet", "users", { id: detail.id }),
      ];
    case "tips":
      return [
        link(`Viewer ${r.viewer_id}`, "users", { id: r.viewer_id }),
        link(`Creator ${r.creator_id}`, "creators", { id: r.creator_id }),
        ...(r.content_id ? [link(`Content ${r.content_id}`, "content", { id: r.content_id })] : []),
      ];
    case "unlocks":
      return [
        link(`Reader ${r.user_id}`, "users", { id: r.user_id }),
        link(`Creator ${r.creator_id}`, "creators", { id: r.creator_id }),
        link(`Content ${r.content_id}`, "content", { id: r.content_id }),
        ...(detail.related.order
          ? [link(`Order ${detail.related.order.id}`, "orders", { id: detail.related.order.id })]
          : []),
      ];
    case "content":
      return [
        link(`Creator ${r.creator_id}`, "creators", { id: r.creator_id }),
        link("Its unlocks", "unlocks", { contentId: detail.id }),
        link("Its tips", "tips", { contentId: detail.id }),
      ];
    case "orders":
      return [
        link(`Payer ${r.user_id}`, "users", { id: r.user_id }),
        link("Its refunds", "refunds", { orderId: detail.id }),
      ];
    case "refunds":
      return [link(`Order ${r.order_id}`, "orders", { id: r.order_id })];
    case "packets":
      return [link(`Sender ${r.sender_id}`, "users", { id: r.sender_id })];
    case "withdrawals":
      return [link(`Creator ${r.creator_id}`, "creators", { id: r.creator_id })];
    default:
      return [];
  }
}

/** The headline figures of a content item, or of an unlock's refund (its two legs). */
function figuresOf(detail) {
  const pair = (label, value, field) => {
    const dd = el("dd", { textContent: value });
    dd.dataset.figure = field;
    return [el("dt", { textContent: label }), dd];
  };
  const r = detail.record;
  if (detail.kind === "content") {
    const f = detail.related.figures;
    return [
      ...pair("Price", r.price_minor === null ? "free" : yuan(r.price_minor, r.currency), "price"),
      ...pair("Status", r.status, "status"),
      ...pair(
        "Unlocks",
        `${f.unlockCount} · ${yuan(f.unlockSumMinor, f.currency)} gross · ${f.revokedCount} refunded`,
        "unlocks",
      ),
      ...pair("Tips", `${f.tipCount} · ${yuan(f.tipSumMinor, f.currency)}`, "tips"),
    ];
  }
  if (detail.kind === "unlocks" && detail.related.refund) {
    const f = detail.related.refund;
    return [
      ...pair("Refund", `${f.id} · ${yuan(f.amount_minor, f.currency)} · “${f.reason}” by ${f.actor_id}`, "refund"),
      ...pair("Creator leg", `${yuan(f.creator_minor, f.currency)} from ${f.source}`, "creatorLeg"),
      ...pair(
        "Payer leg",
        f.payerLegDone ? `${yuan(f.platform_minor, f.currency)} back · ${time(f.payer_leg_at_ms)}` : "waiting",
        "payerLeg",
      ),
    ];
  }
  return [];
}

let current = null;

/** Show one record's detail; `outcome`, the result of the action just done on it, stays on top of its actions. */
async function openDetail(kind, id, outcome = null) {
  const detail = await api("GET", `/v1/admin/search/${kind}/${encodeURIComponent(id)}`).catch((e) => {
    say(describeError(e), true);
    return null;
  });
  if (detail === null) return;
  current = { kind, id };
  const state =
    detail.kind === "tips"
      ? detail.record.reversed
        ? "reversed"
        : "sent"
      : detail.kind === "unlocks" && detail.related.refund
        ? `${detail.record.state} · refunded`
        : (detail.record.state ?? detail.record.status ?? (detail.record.risk_hold ? "held" : ""));
  $("detail-title").textContent = `${kind.replace(/s$/, "")} ${id}`;
  $("detail-state").textContent = state || "—";
  $("detail-state").dataset.state = state;
  $("links").replaceChildren(...linksFor(detail));
  $("actions").replaceChildren(...(outcome ? [outcome] : []), ...actionsFor(detail));
  $("figures").replaceChildren(...figuresOf(detail));
  $("figures").hidden = $("figures").childElementCount === 0;
  $("record").replaceChildren(...recordList(detail.record));
  const steps = detail.transitions;
  $("transitions")
    .querySelector("tbody")
    .replaceChildren(
      ...steps.map((t) => {
        const tr = el(
          "tr",
          {},
          el("td", {
            className: "num",
            textContent: t.seq ?? "·",
            title: t.recorded ? "recorded" : "from the record's times",
          }),
          el("td", { textContent: time(t.atMs) }),
          el("td", { textContent: `${t.from ?? "∅"} → ${t.to}` }),
          el("td", { textContent: t.cause }),
          el("td", { className: "rid", textContent: [t.ref, t.actorId].filter(Boolean).join(" · ") }),
        );
        tr.dataset.to = t.to;
        return tr;
      }),
    );
  $("transitions").hidden = steps.length === 0;
  $("no-transitions").hidden = steps.length > 0;
  $("operations").replaceChildren(
    ...(detail.operations.length > 0
      ? detail.operations.map(operationCard)
      : [el("p", { className: "hint", textContent: "No live ledger operation (none yet, or archived)." })]),
  );
  $("related").replaceChildren(...relatedBlock(detail.related));
  $("detail").hidden = false;
  const shown = new URLSearchParams(location.search);
  shown.set("open", `${kind}:${id}`);
  history.replaceState(null, "", `${location.pathname}?${shown}`);
  document.body.dataset.detail = `${kind}:${id}`;
  document.body.dataset.detailState = state;
  $("detail").scrollIntoView({ block: "start" });
}

// ---- start ----

await startConsole();
try {
  permissions = new Set((await api("GET", "/v1/admin/me")).permissions);
} catch (e) {
  say(describeError(e), true);
}
const params = new URLSearchParams(location.search);
if (params.get("kind") in KINDS) $("kind").value = params.get("kind");
fitForm();
for (const name of [...TEXT_FILTERS, ...SELECT_FILTERS]) if (params.get(name)) $(name).value = params.get(name);
if (params.get("fromMs")) $("from").value = toLocal(Number(params.get("fromMs")));
if (params.get("toMs")) $("to").value = toLocal(Number(params.get("toMs")));
$("kind").onchange = fitForm;
$("filters").onsubmit = (e) => {
  e.preventDefault();
  search();
};
$("next").onclick = () => {
  if (nextCursor === null) return;
  stack.push(nextCursor);
  load().catch((e) => say(describeError(e), true));
};
$("prev").onclick = () => {
  if (stack.length > 1) stack.pop();
  load().catch((e) => say(describeError(e), true));
};
$("first").onclick = search;
$("close-detail").onclick = () => {
  $("detail").hidden = true;
  delete document.body.dataset.detail;
};
search();
const opened = params.get("open")?.split(":");
if (opened?.length === 2 && opened[0] in KINDS) openDetail(opened[0], opened[1]);
