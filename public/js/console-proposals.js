import { subjectOf } from "./api.js";
import { $, api, currentToken, describeError, refreshProposalsBadge, say, startConsole } from "./console-common.js";

// The four-eyes queue: pending proposals (GET /v1/admin/proposals?state=pending), each with the
// request it keeps, approved or rejected here (POST /v1/admin/proposals/{id}/approve|reject).
// A decided proposal stays on the page with its outcome until the next refresh.

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};

/** "3 min", "5 h", "2 d": rough, for reading at a glance (the exact time is the title). */
function span(ms) {
  const m = Math.round(Math.abs(ms) / 60_000);
  if (m < 60) return `${m} min`;
  if (m < 48 * 60) return `${Math.round(m / 60)} h`;
  return `${Math.round(m / 1440)} d`;
}

function when(p) {
  const now = Date.now();
  const ago = now - p.proposedAtMs;
  const age = el("span", { textContent: ago < 60_000 ? "proposed just now" : `proposed ${span(ago)} ago` });
  age.title = new Date(p.proposedAtMs).toISOString();
  const left = p.expiresAtMs - now;
  const expiry = el("span", { textContent: left > 0 ? `expires in ${span(left)}` : "expired" });
  expiry.title = new Date(p.expiresAtMs).toISOString();
  if (left > 0 && left < 60 * 60_000) expiry.className = "soon";
  return [age, " · ", expiry];
}

function pretty(body) {
  return body === null || body === undefined ? "(no body)" : JSON.stringify(body, null, 2);
}

function outcome(card, p) {
  card.dataset.state = p.state;
  card.querySelector(".state").textContent = p.state;
  const box = card.querySelector(".outcome");
  const lines = [`${p.state} by ${p.deciderId ?? "—"}${p.decisionReason ? `: “${p.decisionReason}”` : ""}`];
  box.replaceChildren(el("p", { textContent: lines[0] }));
  if (p.result) {
    box.append(
      el("p", { className: "result-status", textContent: `Its request answered ${p.result.status}` }),
      el("pre", { className: "result-body", textContent: pretty(p.result.body) }),
    );
  }
  box.hidden = false;
  card.querySelector(".decide").hidden = true;
}

function card(p) {
  const mine = p.proposerId === subjectOf(currentToken());
  const item = el("li", { className: "proposal panel-inner" });
  item.dataset.id = p.id;
  item.dataset.state = p.state;
  const reason = el("input", { type: "text", placeholder: "Reason (optional)", maxLength: 500 });
  reason.setAttribute("aria-label", "Reason");
  const error = el("p", { className: "decision-error", role: "alert" });
  const approve = el("button", { type: "button", className: "approve", textContent: "Approve" });
  const reject = el("button", {
    type: "button",
    className: "reject",
    textContent: mine ? "Withdraw" : "Reject",
  });
  const decide = async (verb) => {
    error.textContent = "";
    approve.disabled = reject.disabled = true;
    try {
      const body = reason.value.trim() ? { reason: reason.value.trim() } : {};
      outcome(item, await api("POST", `/v1/admin/proposals/${p.id}/${verb}`, body));
      refreshProposalsBadge();
    } catch (e) {
      error.textContent = describeError(e);
      item.dataset.error = e.code ?? "error";
    } finally {
      approve.disabled = reject.disabled = false;
    }
  };
  approve.onclick = () => decide("approve");
  reject.onclick = () => decide("reject");
  item.append(
    el(
      "div",
      { className: "proposal-head" },
      el("strong", { className: "summary", textContent: p.summary }),
      el("span", { className: "state pill", textContent: p.state }),
    ),
    el(
      "p",
      { className: "meta" },
      "by ",
      el("b", { className: "proposer", textContent: p.proposerId }),
      mine ? " (you)" : "",
      " · needs ",
      el("code", { textContent: p.permission }),
      " · ",
      ...when(p),
    ),
    el(
      "details",
      { open: true },
      el("summary", {}, el("code", { className: "request", textContent: `${p.method} ${p.path}` })),
      el("pre", { className: "request-body", textContent: pretty(p.body) }),
    ),
    el("div", { className: "decide" }, reason, approve, reject),
    error,
    el("div", { className: "outcome", hidden: true }),
  );
  return item;
}

async function load() {
  const page = await api("GET", "/v1/admin/proposals?state=pending&limit=100");
  $("proposals").replaceChildren(...page.items.map(card));
  $("empty").hidden = page.items.length > 0;
  say(page.next ? "More proposals are waiting than shown: decide these, then refresh." : "");
  document.body.dataset.loaded = String(page.items.length);
  refreshProposalsBadge();
}

await startConsole();
$("refresh").onclick = () => load().catch((e) => say(describeError(e), true));
load().catch((e) => say(describeError(e), true));
