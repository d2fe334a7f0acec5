import { apiClient, subjectOf } from "./api.js";
import { formatMinor } from "./live-client.js";

// The creator console: earnings (pending / available / withdrawing), the 30-day income trend,
// top fans, gift preference, settlements and each day's income lines (tips and paid unlocks),
// withdrawals with live states, the payout account,
// verification and the inbox. Query: ?token=<jwt> (a creator's token).
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
let token = params.get("token") ?? sessionStorage.getItem("giftwire:creator-token");
const charts = {};
// The inbox in the page's language: ?lang=zh-CN or en, else the browser's (Chinese → zh-CN).
const inboxLocale = params.get("lang") ?? (navigator.language?.startsWith("zh") ? "zh-CN" : "en");
const TERMINAL = new Set(["paid", "failed", "rejected"]);
let pollTimer = null;

const api = apiClient(() => token);

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

const yuan = (minor) => `¥${formatMinor(minor)}`;
const when = (ms) => new Date(ms).toLocaleString();
const cell = (text) => Object.assign(document.createElement("td"), { textContent: text });

function stateChip(state) {
  const s = Object.assign(document.createElement("span"), { className: "state", textContent: state });
  s.dataset.state = state;
  return s;
}

async function signIn() {
  if (token) return;
  $("signin").hidden = false;
  const b = Object.assign(document.createElement("button"), { textContent: "creator-lin (demo)" });
  b.onclick = async () => {
    try {
      token = (await api("POST", "/v1/dev/tokens", { userId: "creator-lin", roles: ["creator", "viewer"] })).token;
      sessionStorage.setItem("giftwire:creator-token", token);
      location.reload();
    } catch {
      say("Demo sign-in exists only in local development.", true);
    }
  };
  $("demo-users").append(b);
  await new Promise(() => {}); // wait for a choice
}

async function loadEarnings() {
  const e = await api("GET", "/v1/creators/me/earnings");
  $("pending").textContent = yuan(e.pendingMinor);
  $("available").textContent = yuan(e.availableMinor);
  $("withdrawing").textContent = yuan(e.withdrawingMinor);
  $("month-gross").textContent = yuan(e.monthGrossMinor ?? 0);
  if (e.settleAfterDays) $("settle-days").textContent = String(e.settleAfterDays);
  $("receivable").hidden = !(e.receivableMinor > 0);
  $("receivable").textContent =
    `You owe ${yuan(e.receivableMinor ?? 0)} from reversed tips or refunded unlocks; it comes out of your next settlements.`;
  $("earnings-panel").dataset.availableMinor = String(e.availableMinor);
}

function drawChart(id, config) {
  charts[id]?.destroy();
  charts[id] = new window.Chart($(id), config);
}

async function loadInsights() {
  const ins = await api("GET", "/v1/creators/me/insights?days=30");
  const ink = "#f4f1ff";
  const muted = "#a59fc0";
  drawChart("trend-chart", {
    type: "bar",
    data: {
      labels: ins.daily.map((d) => d.day.slice(5)),
      datasets: [
        { label: "Gross ¥", data: ins.daily.map((d) => d.grossMinor / 100), backgroundColor: "#ff3d7f" },
        { label: "Your part ¥", data: ins.daily.map((d) => d.creatorMinor / 100), backgroundColor: "#ffb800" },
      ],
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: { legend: { labels: { color: ink } } },
      scales: { x: { ticks: { color: muted } }, y: { ticks: { color: muted }, beginAtZero: true } },
    },
  });
  const fans = $("fans");
  fans.replaceChildren();
  const top = ins.topFans[0]?.grossMinor ?? 1;
  for (const [i, f] of ins.topFans.entries()) {
    const li = document.createElement("li");
    const bar = Object.assign(document.createElement("div"), { className: "bar" });
    bar.style.width = `${Math.max(4, Math.round((100 * f.grossMinor) / top))}%`;
    li.append(
      bar,
      Object.assign(document.createElement("span"), {
        textContent: `${i + 1}. ${f.viewerId} · ${f.tips} tips${f.unlocks ? ` · ${f.unlocks} unlocks` : ""}`,
      }),
      Object.assign(document.createElement("span"), { className: "amount", textContent: yuan(f.grossMinor) }),
    );
    fans.append(li);
  }
  $("no-fans").hidden = ins.topFans.length > 0;
  drawChart("gift-chart", {
    type: "doughnut",
    data: {
      labels: ins.gifts.map((g) => g.name ?? g.giftId ?? "custom tips"),
      datasets: [
        {
          data: ins.gifts.map((g) => g.grossMinor / 100),
          backgroundColor: ["#ff3d7f", "#ffb800", "#7b61ff", "#29c5a5", "#4aa3ff", "#ff8a3d", "#c86bff", "#9be15d"],
        },
      ],
    },
    options: { animation: false, maintainAspectRatio: false, plugins: { legend: { labels: { color: ink } } } },
  });
}

async function loadWithdrawals() {
  const { withdrawals } = await api("GET", "/v1/creators/me/withdrawals?limit=20");
  const body = $("withdrawals");
  body.replaceChildren();
  for (const w of withdrawals) {
    const tr = document.createElement("tr");
    tr.dataset.id = w.id;
    const state = document.createElement("td");
    state.append(stateChip(w.state));
    if (w.failureReason || w.rejectReason) state.append(` ${w.failureReason ?? w.rejectReason}`);
    tr.append(cell(when(w.createdAtMs)), cell(yuan(w.amountMinor)), cell(`${w.channel} · ${w.destination}`), state);
    body.append(tr);
  }
  // Live states: poll while a withdrawal is on its way, stop once all are final.
  const moving = withdrawals.some((w) => !TERMINAL.has(w.state));
  clearTimeout(pollTimer);
  if (moving) {
    pollTimer = setTimeout(() => {
      Promise.all([loadWithdrawals(), loadEarnings(), loadUnread()]).catch((e) => say(e.message, true));
    }, 1500);
  } else if (withdrawals.length > 0) {
    // The last state's notice is on its way through the inbox's queue: look again shortly.
    setTimeout(() => loadUnread().catch(() => {}), 2000);
  }
}

async function loadSettlements() {
  const { items: settlements } = await api("GET", "/v1/creators/me/settlements?limit=30");
  const body = $("settlements");
  body.replaceChildren();
  for (const s of settlements) {
    const tr = document.createElement("tr");
    // A settled day's lines are one click away: the statement's income of that business day.
    tr.className = "pick";
    tr.title = "Show this day's income lines";
    tr.onclick = () => {
      $("income-day").value = s.day;
      loadIncome(s.day).catch((e) => say(e.message, true));
    };
    tr.append(
      cell(s.day),
      cell(yuan(s.grossMinor)),
      cell(yuan(s.platformMinor)),
      cell(yuan(s.reversedMinor)),
      cell(yuan(s.withholdingMinor)),
      cell(s.state === "held" ? "held" : yuan(s.netMinor)),
    );
    body.append(tr);
  }
  const month = new Date().toISOString().slice(0, 7);
  $("statement-link").onclick = (ev) => {
    ev.preventDefault();
    downloadStatement(month).catch((e) => say(e.message, true));
  };
}

// One business day's income lines (GET /v1/creators/me/statement?kind=income), oldest first:
// tips (a gift × quantity or a custom amount, in a room or on a content item) and paid unlocks.
let incomeCursor = null;

function incomeRow(i) {
  const tr = document.createElement("tr");
  tr.dataset.kind = i.kind;
  tr.dataset.id = i.kind === "unlock" ? i.unlockId : i.tipId;
  // The kind as a chip; a gift tip also says which gift and how many.
  const kind = document.createElement("td");
  kind.append(stateChip(i.kind));
  if (i.kind === "tip" && i.giftId) kind.append(` ${i.giftName ?? i.giftId} ×${i.quantity}`);
  const on = i.contentId ? `content ${i.contentId}` : `room ${i.roomId}`;
  const state = i.reversed ? (i.kind === "unlock" ? "refunded" : "reversed") : "received";
  const stateCell = document.createElement("td");
  stateCell.append(stateChip(state));
  tr.append(
    cell(new Date(i.createdAtMs).toLocaleTimeString()),
    kind,
    cell(on),
    cell(i.viewerId),
    cell(yuan(i.grossMinor)),
    cell(i.platformBps === null ? "—" : `${formatMinor(i.platformBps)}%`),
    cell(yuan(i.netMinor)),
    stateCell,
  );
  return tr;
}

async function loadIncome(day, more = false) {
  const query = new URLSearchParams({ kind: "income", from: day, to: day, limit: "50" });
  if (more && incomeCursor) query.set("cursor", incomeCursor);
  const page = await api("GET", `/v1/creators/me/statement?${query}`);
  const body = $("income");
  if (!more) body.replaceChildren();
  body.append(...page.items.map(incomeRow));
  incomeCursor = page.nextCursor;
  $("income-more").hidden = page.nextCursor === null;
  $("income-more").onclick = () => loadIncome(day, true).catch((e) => say(e.message, true));
  $("income-empty").hidden = body.children.length > 0;
}

async function loadTodayIncome() {
  // Today in the page's calendar; a settlement row picks the business day exactly.
  const now = new Date();
  const today = new Date(now.getTime() - now.getTimezoneOffset() * 60_000).toISOString().slice(0, 10);
  $("income-day").value = today;
  $("income-day").onchange = () => {
    if ($("income-day").value) loadIncome($("income-day").value).catch((e) => say(e.message, true));
  };
  await loadIncome(today);
}

async function downloadStatement(month) {
  const res = await fetch(`/v1/creators/me/statements/${month}.csv`, { headers: { authorization: `Bearer ${token}` } });
  if (!res.ok) throw new Error(`The statement is not available (${res.status}).`);
  const url = URL.createObjectURL(await res.blob());
  const a = Object.assign(document.createElement("a"), { href: url, download: `giftwire-statement-${month}.csv` });
  a.click();
  URL.revokeObjectURL(url);
}

async function loadAccounts() {
  const { items: accounts } = await api("GET", "/v1/creators/me/payout-accounts");
  const list = $("accounts");
  list.replaceChildren();
  for (const a of accounts) {
    const li = document.createElement("li");
    const label = Object.assign(document.createElement("span"), { textContent: `${a.channel} · ${a.masked}` });
    li.append(label);
    if (a.coolingUntilMs > Date.now()) {
      li.append(
        Object.assign(document.createElement("small"), { textContent: `cooling until ${when(a.coolingUntilMs)}` }),
      );
    }
    if (a.isDefault) li.append(stateChip("default"));
    else {
      const b = Object.assign(document.createElement("button"), { type: "button", textContent: "Make default" });
      b.onclick = () =>
        api("PUT", `/v1/creators/me/payout-accounts/${a.id}/default`)
          .then(loadAccounts)
          .catch((e) => say(e.message, true));
      li.append(b);
    }
    list.append(li);
  }
  $("bind-panel").open = accounts.length === 0;
}

function accountBody(channel, account, name) {
  switch (channel) {
    case "wechatpay":
      return { channel, openid: account };
    case "alipay":
      return /^2088[0-9]{12}$/.test(account)
        ? { channel, identity: "user_id", id: account, name: name || null }
        : { channel, identity: "logon_id", id: account, name };
    case "stripe":
      return { channel, accountId: account };
    default:
      return { channel, id: account };
  }
}

async function loadVerification() {
  const v = await api("GET", "/v1/creators/me/verification");
  const chip = $("verification-state");
  chip.textContent = v.state;
  chip.dataset.state = v.state;
  chip.className = "state";
  $("verification-detail").textContent =
    v.state === "verified"
      ? `${v.realNameMasked} · ${v.idNumberMasked}`
      : v.state === "rejected"
        ? `Rejected: ${v.rejectReason ?? ""}. You can submit again.`
        : v.state === "pending_review"
          ? `${v.realNameMasked} · ${v.idNumberMasked} — waiting for review.`
          : "Verify your identity before your first withdrawal.";
  $("verify-form").hidden = !(v.state === "unverified" || v.state === "rejected");
}

async function loadUnread() {
  const { unread } = await api("GET", "/v1/creators/me/inbox/unread-count");
  $("unread").hidden = unread === 0;
  $("unread").textContent = String(unread);
}

async function openInbox() {
  const { items: messages } = await api("GET", `/v1/creators/me/inbox?limit=50&locale=${inboxLocale}`);
  const list = $("inbox-list");
  list.replaceChildren();
  for (const m of messages) {
    const li = document.createElement("li");
    li.className = m.unread ? "unread" : "";
    li.append(
      Object.assign(document.createElement("strong"), { textContent: m.title }),
      document.createElement("br"),
      Object.assign(document.createElement("span"), { textContent: m.body }),
      document.createElement("br"),
      Object.assign(document.createElement("time"), { textContent: when(m.createdAtMs) }),
    );
    list.append(li);
  }
  $("inbox").showModal();
}

function wireForms() {
  $("withdraw-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const amount = $("withdraw-amount").value.trim();
    // Every withdrawal needs the payment PIN; it is cleared from the form whatever the answer.
    const pin = $("withdraw-pin").value;
    $("withdraw-pin").value = "";
    try {
      const w = await api("POST", "/v1/creators/me/withdrawals", { amount, pin }, crypto.randomUUID());
      const wd = w.withdrawal;
      say(`Withdrawal of ¥${amount} ${wd.state === "requested" ? "is waiting for review" : "is on its way"}.`);
      $("withdraw-amount").value = "";
      await Promise.all([loadWithdrawals(), loadEarnings()]);
    } catch (e) {
      const pinMessages = {
        pin_incorrect: `Wrong payment PIN — ${e.details?.triesLeft ?? 0} tries left.`,
        pin_locked: "Your payment PIN is locked after too many wrong tries; try again later.",
        pin_not_set: "Set a payment PIN first (on the viewer page: Payment PIN).",
      };
      say(pinMessages[e.code] ?? e.message, true);
    }
  };
  $("bind-channel").onchange = () => {
    $("bind-name-label").hidden = $("bind-channel").value !== "alipay";
  };
  $("bind-name-label").hidden = true;
  $("bind-form").onsubmit = async (ev) => {
    ev.preventDefault();
    const body = accountBody($("bind-channel").value, $("bind-account").value.trim(), $("bind-name").value.trim());
    try {
      const a = await api("POST", "/v1/creators/me/payout-accounts", { ...body, makeDefault: true });
      const account = a;
      say(`Bound ${account.masked}. Withdrawals to it open ${when(account.coolingUntilMs)}.`);
      $("bind-form").reset();
      await loadAccounts();
    } catch (e) {
      say(e.message, true);
    }
  };
  $("verify-form").onsubmit = async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/v1/creators/me/verification", {
        realName: $("verify-name").value.trim(),
        idNumber: $("verify-id").value.trim().toUpperCase(),
      });
      $("verify-form").reset();
      await loadVerification();
      say("Submitted: an operator reviews it.");
    } catch (e) {
      say(e.message, true);
    }
  };
  $("inbox-button").onclick = () => openInbox().catch((e) => say(e.message, true));
  $("close-inbox").onclick = () => $("inbox").close();
  $("mark-all").onclick = async () => {
    await api("POST", "/v1/creators/me/inbox/read", { all: true });
    await Promise.all([openInbox(), loadUnread()]);
  };
}

async function main() {
  await signIn();
  $("who").textContent = subjectOf(token) ?? "creator";
  wireForms();
  const parts = [
    loadEarnings,
    loadInsights,
    loadWithdrawals,
    loadSettlements,
    loadTodayIncome,
    loadAccounts,
    loadVerification,
    loadUnread,
  ];
  const results = await Promise.allSettled(parts.map((load) => load()));
  const failed = results.filter((r) => r.status === "rejected");
  if (failed.length > 0) say(failed.map((r) => r.reason.message).join(" · "), true);
  document.body.dataset.ready = "true";
  setInterval(() => loadUnread().catch(() => {}), 15_000);
}

main().catch((e) => say(e.message, true));
