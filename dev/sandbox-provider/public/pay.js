// The sandbox provider's checkout sheet: the payer sees what they are asked to pay, approves
// or declines, and then watches the provider notify the merchant (delay, retries, duplicates).
// Query: ?order=<orderNo>&code=<pay code>, the payer link the merchant got when it opened the
// payment; the code is kept for the tab, per order.
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const orderNo = params.get("order");
const queryCode = params.get("code");
const codeKey = `sandbox-pay:code:${orderNo}`;
if (queryCode) {
  sessionStorage.setItem(codeKey, queryCode);
  // The code is the payment's capability: keep it out of history and screenshots.
  history.replaceState(null, "", `${location.pathname}?order=${encodeURIComponent(orderNo ?? "")}`);
}
const payCode = queryCode ?? sessionStorage.getItem(codeKey);

/** Fen as yuan with two decimals ("52.00"). */
function formatMinor(minor) {
  return `${Math.floor(minor / 100)}.${String(minor % 100).padStart(2, "0")}`;
}

/** Server clock minus device clock, so the countdown follows the provider's deadline. */
let clockSkewMs = 0;
let payment = null;
let countdownTimer = null;
let pollTimer = null;
let pollUntilMs = 0;

/** How long the page keeps watching callbacks after a decision (the retry schedule is longer). */
const WATCH_MS = 10 * 60_000;
const POLL_MS = 800;

async function api(method, path, body) {
  const headers = { "x-pay-code": payCode };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    throw Object.assign(new Error(data?.error?.message ?? res.statusText), {
      code: data?.error?.code,
      status: res.status,
    });
  }
  return data;
}

function problem(text) {
  $("loading").hidden = true;
  $("payment").hidden = true;
  $("problem").hidden = false;
  $("problem-text").textContent = text;
}

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
const seconds = (ms) => `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
const serverNow = () => Date.now() + clockSkewMs;

function renderSheet(p) {
  $("loading").hidden = true;
  $("payment").hidden = false;
  $("merchant-name").textContent = p.merchantName;
  $("merchant-id").textContent = `Merchant ${p.merchantId}`;
  const [yuan, fen] = formatMinor(p.amountMinor).split(".");
  $("amount-yuan").textContent = Number(yuan).toLocaleString("en-US");
  $("amount-fen").textContent = `.${fen}`;
  $("description").textContent = p.description;
  $("order-no").textContent = p.orderNo;
  $("txn-id").textContent = p.txnId;
  document.title = `¥${p.amount} · Sandbox Pay`;
}

const OUTCOMES = {
  succeeded: { icon: "✓", title: "Payment approved", text: (p) => `You paid ¥${p.amount} to ${p.merchantName}.` },
  failed: { icon: "✕", title: "Payment declined", text: () => "Nothing was charged." },
  closed: { icon: "⏱", title: "Payment expired", text: () => "The time to pay ran out; nothing was charged." },
};

function renderState(p) {
  const open = p.state === "open" && p.expiresAtMs > serverNow();
  $("actions").hidden = !open;
  $("countdown-row").hidden = !open;
  $("outcome").hidden = open;
  if (!open) {
    const outcome = OUTCOMES[p.state] ?? OUTCOMES.closed;
    $("outcome").dataset.state = p.state === "open" ? "closed" : p.state;
    $("outcome-icon").textContent = outcome.icon;
    $("outcome-title").textContent = outcome.title;
    $("outcome-text").textContent = outcome.text(p);
    stopCountdown();
  }
  renderCallbacks(p);
}

const TYPES = {
  "payment.succeeded": "payment succeeded",
  "payment.failed": "payment failed",
  "payment.closed": "payment closed",
  "refund.succeeded": "refund succeeded",
};

function attemptText(a) {
  const what = a.duplicate ? "duplicate delivery" : `attempt ${a.n}`;
  if (a.status === null && a.error === null) return `${clock(a.atMs)} · ${what} · waiting for an answer…`;
  const answer = a.status === null ? (a.error ?? "no answer") : `HTTP ${a.status}`;
  return `${clock(a.atMs)} · ${what} · ${answer}${a.acknowledged ? " · acknowledged" : ""}`;
}

function renderCallbacks(p) {
  if (p.deliveries.length === 0) {
    $("callback").hidden = true;
    return;
  }
  $("callback").hidden = false;
  const now = serverNow();
  const lines = p.deliveries.map((d) => {
    const type = TYPES[d.type] ?? d.type;
    if (d.state === "delivered") {
      const tries = d.attempts.filter((a) => !a.duplicate).length;
      return `Delivered “${type}” at ${clock(d.deliveredAtMs)} (${tries === 1 ? "first try" : `after ${tries} tries`}).`;
    }
    if (d.state === "gave_up") return `Gave up on “${type}” after ${d.attempts.length} tries.`;
    const when = d.nextAttemptAtMs === null ? "shortly" : `in ${seconds(d.nextAttemptAtMs - now)}`;
    return d.attempts.length === 0
      ? `Notifying giftwire of “${type}” ${when}…`
      : `Not acknowledged yet; retrying “${type}” ${when}.`;
  });
  $("callback-status").textContent = lines.join(" ");
  $("callback").dataset.state = p.deliveries.every((d) => d.state === "delivered") ? "delivered" : "pending";
  const list = $("attempts");
  list.replaceChildren();
  for (const d of p.deliveries) {
    for (const a of d.attempts) {
      const li = document.createElement("li");
      li.textContent = attemptText(a);
      li.className = a.acknowledged ? "ok" : a.status === null && a.error === null ? "waiting" : "failed";
      list.append(li);
    }
  }
}

function tick() {
  if (!payment) return;
  const leftMs = payment.expiresAtMs - serverNow();
  if (leftMs <= 0) {
    $("countdown").textContent = "0:00";
    renderState(payment);
    // The provider closes it at the deadline; ask for its word rather than assume.
    setTimeout(refresh, 1_500);
    return;
  }
  const total = Math.ceil(leftMs / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  $("countdown").textContent = h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
  $("countdown").classList.toggle("urgent", leftMs < 60_000);
  if (payment.deliveries.length > 0) renderCallbacks(payment);
}

function startCountdown() {
  stopCountdown();
  tick();
  countdownTimer = setInterval(tick, 250);
}

function stopCountdown() {
  if (countdownTimer !== null) clearInterval(countdownTimer);
  countdownTimer = null;
}

function show(p) {
  clockSkewMs = p.serverTimeMs - Date.now();
  payment = p;
  renderSheet(p);
  renderState(p);
  if (p.state === "open" && countdownTimer === null) startCountdown();
  const watching = p.deliveries.some((d) => d.nextAttemptAtMs !== null || d.state === "scheduled");
  if (watching && Date.now() < pollUntilMs) schedulePoll();
}

function schedulePoll() {
  if (pollTimer !== null) return;
  pollTimer = setTimeout(async () => {
    pollTimer = null;
    await refresh();
  }, POLL_MS);
}

async function refresh() {
  try {
    show((await api("GET", `/pay/api/payments/${encodeURIComponent(orderNo)}`)).payment);
  } catch (error) {
    if (!payment) fail(error);
    else say(error.message, true);
  }
}

function fail(error) {
  const messages = {
    401: "Open this page from the payer link your order gave you.",
    404: "There is no such payment for this link.",
  };
  problem(messages[error.status] ?? error.message);
}

async function decide(outcome) {
  for (const b of [$("approve"), $("decline")]) b.disabled = true;
  say(outcome === "succeeded" ? "Approving…" : "Declining…");
  try {
    const reply = await api("POST", `/pay/api/payments/${encodeURIComponent(orderNo)}/decision`, { outcome });
    say("");
    pollUntilMs = Date.now() + WATCH_MS;
    show(reply.payment);
  } catch (error) {
    say(error.status === 409 ? error.message : `Could not send your decision: ${error.message}`, true);
    await refresh();
  } finally {
    for (const b of [$("approve"), $("decline")]) b.disabled = false;
  }
}

$("approve").onclick = () => decide("succeeded");
$("decline").onclick = () => decide("failed");

if (!orderNo) problem("No payment was named: the link is missing its order.");
else if (!payCode) problem("Open this page from the payer link your order gave you.");
else {
  // Callbacks still in flight when the page was reopened are watched as well.
  pollUntilMs = Date.now() + WATCH_MS;
  refresh();
}
