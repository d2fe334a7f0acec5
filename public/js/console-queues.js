import {
  $,
  api,
  describeError,
  refreshProposalsBadge,
  refreshQueuesBadge,
  say,
  startConsole,
} from "./console-common.js";

// The work queues: one tab per queue the operator's roles may read (GET /v1/admin/queues
// answers only those, with their counts), each a list of cards with the queue's own actions.
// A decided card stays on the page with its outcome until the next refresh; a four-eyed
// action (a large withdrawal's approval) answers with a proposal, linked to the proposals page.

const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};

/** Minor units as a decimal amount, in integers (never a float). */
function money(minor) {
  if (minor === null || minor === undefined) return "—";
  const sign = minor < 0 ? "-" : "";
  const abs = Math.abs(minor);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

function when(ms) {
  if (ms === null || ms === undefined) return "—";
  const t = el("time", { textContent: new Date(ms).toLocaleString(), dateTime: new Date(ms).toISOString() });
  return t;
}

const pretty = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 2));

/** A finding's stored detail (JSON with a sentence in `text`): the sentence, then the rest folded. */
function detailNodes(detail) {
  let parsed = null;
  try {
    parsed = JSON.parse(detail);
  } catch {}
  if (!parsed || typeof parsed !== "object") return [el("pre", { className: "request-body", textContent: detail })];
  const { text, ...rest } = parsed;
  return [
    text ? el("p", { className: "finding-text", textContent: text }) : null,
    el("details", {}, el("summary", {}, "Detail"), el("pre", { className: "request-body", textContent: pretty(rest) })),
  ].filter(Boolean);
}

/** A labelled fact: "label value". */
const fact = (label, value) =>
  el(
    "span",
    { className: "fact" },
    el("b", { textContent: `${label} ` }),
    value instanceof Node ? value : String(value),
  );

/**
 * An action row: a text input (the note or reason) and buttons. Each action's `run(text)`
 * answers the outcome text; `needsText` refuses to send without one.
 */
function actions(card, defs, placeholder = "Note") {
  const input = el("input", { type: "text", placeholder, maxLength: 500 });
  input.setAttribute("aria-label", placeholder);
  const error = el("p", { className: "decision-error", role: "alert" });
  const buttons = defs.map((d) => el("button", { type: "button", className: d.className, textContent: d.label }));
  defs.forEach((d, i) => {
    buttons[i].onclick = async () => {
      error.textContent = "";
      const text = input.value.trim();
      if (d.needsText && !text) {
        error.textContent = `${placeholder} needed to ${d.label.toLowerCase()}.`;
        input.focus();
        return;
      }
      for (const b of buttons) b.disabled = true;
      try {
        const outcome = await d.run(text);
        card.dataset.state = outcome.state;
        card.querySelector(".state").textContent = outcome.state;
        const box = card.querySelector(".outcome");
        box.replaceChildren(...[outcome.text].flat());
        box.hidden = false;
        row.hidden = true;
        refreshQueuesBadge().then(drawCounts);
        refreshProposalsBadge();
      } catch (e) {
        error.textContent = describeError(e);
        card.dataset.error = e.code ?? "error";
      } finally {
        for (const b of buttons) b.disabled = false;
      }
    };
  });
  const row = el("div", { className: "decide" }, input, ...buttons);
  return [row, error, el("div", { className: "outcome", hidden: true })];
}

function card(id, title, state, meta, body, actionNodes = []) {
  const item = el("li", { className: "proposal queue-item" });
  item.dataset.id = id;
  item.dataset.state = state;
  item.append(
    el(
      "div",
      { className: "proposal-head" },
      el("strong", { className: "summary", textContent: title }),
      el("span", { className: "state pill", textContent: state }),
    ),
    el("p", { className: "meta" }, ...meta.flatMap((m, i) => (i === 0 ? [m] : [" · ", m]))),
    ...body,
    ...actionNodes,
  );
  return item;
}

const key = () => crypto.randomUUID();

/** The outcome of a four-eyed call: executed (its answer) or kept as a proposal. */
function proposedOr(answer, done) {
  if (answer?.proposal) {
    return {
      state: "proposed",
      text: [
        `Kept as proposal ${answer.proposal.id}: a second operator approves it on `,
        el("a", { href: "/console/proposals.html", textContent: "the proposals page" }),
        ".",
      ],
    };
  }
  return done(answer);
}

/** Review reasons as a sentence, where the API gives none (`reviewDetails` has the risk's own). */
const REASONS = {
  amount_at_or_above_auto_approval: "At or above the amount that is approved automatically.",
  risk_flagged: "The creator was under a risk hold when asking.",
};

/** A queue's first page (at most 100): its items under `key`, and whether more wait. */
function pagedLoad(url, key, cursorKey = "nextCursor") {
  return async () => {
    const page = await api("GET", url);
    return { items: page[key], more: Boolean(page[cursorKey]) };
  };
}

const QUEUES = [
  {
    key: "findings",
    label: "Reconciliation findings",
    hint: "What a channel statement's reconciliation could not match or repair by itself. Repair (a refund, an adjustment) is its own action; resolving records what was done.",
    load: pagedLoad("/v1/admin/reconciliation-findings?limit=100", "findings"),
    render(f) {
      const c = card(
        f.id,
        `${f.kind.replaceAll("_", " ")} · ${f.channel} statement of ${f.statementDate}`,
        "open",
        [
          fact("order", f.orderId ?? "—"),
          fact("provider ref", f.providerRef ?? "—"),
          fact("ours", `${money(f.oursAmountMinor)} ${f.oursStatus ?? ""}`.trim()),
          fact("theirs", `${money(f.theirsAmountMinor)} ${f.theirsStatus ?? ""}`.trim()),
          fact("repair", `${f.repair}${f.repairOutcome ? ` → ${f.repairOutcome}` : ""}`),
        ],
        detailNodes(f.detail),
      );
      c.append(
        ...actions(
          c,
          [
            {
              label: "Resolve",
              className: "approve",
              needsText: true,
              run: async (note) => {
                const r = await api("POST", `/v1/admin/reconciliation-findings/${f.id}/resolve`, { note });
                return {
                  state: "resolved",
                  text: `${r.changed ? "Resolved" : "Already resolved"} by ${r.finding.resolvedBy}: “${r.finding.resolution}”`,
                };
              },
            },
          ],
          "What was done (required)",
        ),
      );
      return c;
    },
  },
  {
    key: "withdrawals",
    label: "Withdrawal reviews",
    hint: "Withdrawals held for manual review, oldest first, with why. Above the four-eyes threshold an approval waits for a second operator.",
    load: pagedLoad("/v1/admin/withdrawals?state=requested&limit=100", "withdrawals"),
    render(w) {
      const reasons = el(
        "ul",
        { className: "review-reasons" },
        ...(w.reviewReasons.length ? w.reviewReasons : ["(none recorded)"]).map((r) =>
          el(
            "li",
            {},
            el("code", { textContent: r }),
            el("span", { className: "review-detail", textContent: ` ${w.reviewDetails?.[r] ?? REASONS[r] ?? ""}` }),
          ),
        ),
      );
      const c = card(
        w.id,
        `${money(w.amountMinor)} ${w.currency} to ${w.creatorId}`,
        w.state,
        [
          fact("channel", w.channel),
          fact("to", w.destination),
          fact("fee", money(w.feeMinor)),
          fact("requested", when(w.createdAtMs)),
          fact("review", w.review),
        ],
        [el("p", { className: "hint", textContent: "Why it waits for review:" }), reasons],
      );
      c.append(
        ...actions(
          c,
          [
            {
              label: "Approve",
              className: "approve",
              run: async () =>
                proposedOr(await api("POST", `/v1/admin/withdrawals/${w.id}/approve`, undefined, key()), (r) => ({
                  state: r.withdrawal.state,
                  text: `Approved by ${r.withdrawal.reviewerId}: sent to ${w.channel}.`,
                })),
            },
            {
              label: "Reject",
              className: "reject",
              needsText: true,
              run: async (reason) => {
                const r = await api("POST", `/v1/admin/withdrawals/${w.id}/reject`, { reason }, key());
                return {
                  state: r.withdrawal.state,
                  text: `Rejected: “${r.withdrawal.rejectReason}”; the money is back in the creator's balance.`,
                };
              },
            },
          ],
          "Reason (required to reject)",
        ),
      );
      return c;
    },
  },
  {
    key: "riskReviews",
    label: "Held tips",
    hint: "Tips a risk rule sent to review, with the payer's money held. Approving makes the tip (on a room, which must be live; or on a content item); declining returns the money to the payer's wallet. Undecided by the time shown, a tip is declined by itself.",
    load: pagedLoad("/v1/admin/risk/reviews?limit=100", "heldTips"),
    render(h) {
      const asked = h.giftId ? `${h.quantity} × ${h.giftId}` : "a custom amount";
      const fired = el(
        "ul",
        { className: "review-reasons" },
        ...h.fired.map((f) =>
          el(
            "li",
            {},
            el("code", { textContent: f.ruleId }),
            el("span", { className: "review-detail", textContent: ` ${f.reason}: ${f.detail}` }),
          ),
        ),
      );
      const c = card(
        h.id,
        `${h.amount} ${h.currency} from ${h.viewerId} to ${h.creatorId}`,
        h.state,
        [
          fact("asked", asked),
          // A held tip has exactly one target: a live room's tip or a content item's.
          h.contentId ? fact("content item", h.contentId) : fact("room", h.roomId),
          fact("held", when(h.createdAtMs)),
          fact("declined by itself", when(h.expiresAtMs)),
        ],
        [
          el("p", { className: "hint", textContent: "Why it waits for review:" }),
          fired,
          h.message ? el("p", { className: "hint", textContent: `Its message: “${h.message.shown}”` }) : null,
        ].filter(Boolean),
      );
      c.append(
        ...actions(
          c,
          [
            {
              label: "Approve",
              className: "approve",
              run: async () => {
                const r = await api("POST", `/v1/admin/risk/reviews/${h.id}/approve`);
                return {
                  state: r.heldTip.state,
                  text: `Approved by ${r.heldTip.decidedBy}: tip ${r.heldTip.tipId} made.`,
                };
              },
            },
            {
              label: "Decline",
              className: "reject",
              needsText: true,
              run: async (reason) => {
                const r = await api("POST", `/v1/admin/risk/reviews/${h.id}/decline`, { reason });
                return {
                  state: r.heldTip.state,
                  text: `Declined: “${r.heldTip.decisionReason}”; the money is back in ${h.viewerId}'s wallet.`,
                };
              },
            },
          ],
          "Reason (required to decline)",
        ),
      );
      return c;
    },
  },
  {
    key: "verifications",
    label: "Creator verifications",
    hint: "Real-name verifications waiting for review (masked). The creator sees a rejection's reason.",
    load: pagedLoad("/v1/admin/verifications?limit=100", "items"),
    render(v) {
      const c = card(
        v.creatorId,
        `${v.creatorId}: ${v.realNameMasked ?? "?"}`,
        v.state,
        [fact("ID number", v.idNumberMasked ?? "—"), fact("submitted", when(v.submittedAtMs))],
        [],
      );
      c.append(
        ...actions(
          c,
          [
            {
              label: "Approve",
              className: "approve",
              run: async () => {
                const r = await api("POST", `/v1/admin/verifications/${encodeURIComponent(v.creatorId)}/approve`);
                return { state: r.state, text: `Verified${r.changed ? "" : " (already was)"}.` };
              },
            },
            {
              label: "Reject",
              className: "reject",
              needsText: true,
              run: async (reason) => {
                const r = await api("POST", `/v1/admin/verifications/${encodeURIComponent(v.creatorId)}/reject`, {
                  reason,
                });
                return { state: r.state, text: `Rejected: “${r.rejectReason}”.` };
              },
            },
          ],
          "Reason the creator sees (required to reject)",
        ),
      );
      return c;
    },
  },
  {
    key: "heldMessages",
    label: "Held messages",
    hint: "Tip messages the word list held: the tip itself is posted; only its message waits. Approving shows it in the room at once.",
    load: pagedLoad("/v1/admin/messages/held?limit=100", "messages"),
    render(m) {
      const c = card(
        m.tipId,
        `“${m.text}”`,
        m.status,
        [fact("from", m.viewerId), fact("to", m.creatorId), fact("room", m.roomId), fact("sent", when(m.createdAtMs))],
        m.shown !== m.text ? [el("p", { className: "hint", textContent: `The room would show: “${m.shown}”` })] : [],
      );
      const decide = (verb) => async () => {
        const r = await api("POST", `/v1/admin/messages/${m.tipId}/${verb}`);
        return { state: r.message.status, text: `${r.message.status} by ${r.message.reviewedBy}.` };
      };
      c.append(
        ...actions(c, [
          { label: "Approve", className: "approve", run: decide("approve") },
          { label: "Reject", className: "reject", run: decide("reject") },
        ]),
      );
      c.querySelector(".decide input").hidden = true;
      return c;
    },
  },
  {
    key: "paymentFlags",
    label: "Payment flags",
    hint: "Verified payments that did not match their order, contradicting answers, payouts held by risk: each needs a person.",
    load: pagedLoad("/v1/admin/payment-flags?group=payments&limit=100", "flags"),
    render: flagCard,
  },
  {
    key: "payoutsStuck",
    label: "Payouts stuck",
    hint: "Withdrawals sent to their channel that heard nothing back for too long (the payout sweep flags them and keeps querying). Resolve once you have checked with the channel.",
    load: pagedLoad("/v1/admin/payment-flags?group=payouts_stuck&limit=100", "flags"),
    render: flagCard,
  },
  {
    key: "deadLetters",
    label: "Dead letters",
    hint: "Messages a queue gave up on after its retries, kept by the dead-letter consumer. Replay sends one back to its queue, once (the consumers are idempotent); discard drops it. Both are audited.",
    load: pagedLoad("/v1/admin/dead-letters?limit=100", "deadLetters"),
    render(d) {
      const c = card(
        d.id,
        `${d.originalQueue} · message ${d.messageId}`,
        d.state,
        [
          fact("dead-letter queue", d.queue),
          fact("deliveries here", d.attempts),
          fact("first seen", when(d.firstSeenAtMs)),
          d.bodyTruncated ? el("span", { className: "soon", textContent: "body truncated: cannot replay" }) : null,
        ].filter(Boolean),
        [
          el(
            "details",
            { open: true },
            el("summary", {}, "Body"),
            el("pre", { className: "request-body", textContent: d.body === null ? "(not JSON)" : pretty(d.body) }),
          ),
        ],
      );
      const decide = (verb) => async (note) => {
        const r = await api("POST", `/v1/admin/dead-letters/${d.id}/${verb}`, note ? { note } : {});
        return {
          state: r.deadLetter.state,
          text: `${r.deadLetter.state} by ${r.deadLetter.decidedBy}${verb === "replay" ? ` to ${d.originalQueue}` : ""}.`,
        };
      };
      c.append(
        ...actions(
          c,
          [
            { label: "Replay", className: "approve", run: decide("replay") },
            { label: "Discard", className: "reject", run: decide("discard") },
          ],
          "Note (optional)",
        ),
      );
      return c;
    },
  },
  {
    key: "proposals",
    label: "Proposals waiting",
    hint: "Four-eyed actions waiting for a second operator: decide them on the proposals page.",
    load: pagedLoad("/v1/admin/proposals?state=pending&limit=100", "items", "next"),
    render(p) {
      return card(
        p.id,
        p.summary,
        p.state,
        [fact("by", p.proposerId), fact("needs", p.permission), fact("proposed", when(p.proposedAtMs))],
        [
          el(
            "p",
            {},
            el("a", {
              className: "button",
              href: `/console/proposals.html#${p.id}`,
              textContent: "Decide on the proposals page",
            }),
          ),
        ],
      );
    },
  },
];

function flagCard(f) {
  const c = card(
    f.id,
    `${f.kind.replaceAll("_", " ")} · ${f.channel}`,
    "open",
    [
      f.withdrawalId ? fact("withdrawal", f.withdrawalId) : fact("order", f.orderId ?? "—"),
      fact("flagged", when(f.createdAtMs)),
    ],
    [el("pre", { className: "request-body", textContent: pretty(f.detail) })],
  );
  c.append(
    ...actions(
      c,
      [
        {
          label: "Resolve",
          className: "approve",
          needsText: true,
          run: async (note) => {
            const r = await api("POST", `/v1/admin/payment-flags/${encodeURIComponent(f.id)}/resolve`, { note });
            return {
              state: "resolved",
              text: `${r.changed ? "Resolved" : "Already resolved"} by ${r.flag.resolvedBy}: “${r.flag.resolution}”`,
            };
          },
        },
      ],
      "What was done (required)",
    ),
  );
  return c;
}

let counts = {};
let countMax = 1000;
let current = null;

function drawCounts(answer) {
  if (answer) {
    counts = answer.counts;
    countMax = answer.countMax;
  }
  for (const q of QUEUES) {
    const badge = document.getElementById(`count-${q.key}`);
    if (!badge) continue;
    const n = counts[q.key] ?? 0;
    badge.textContent = n >= countMax ? `${countMax}+` : String(n);
    badge.classList.toggle("zero", n === 0);
  }
}

function drawTabs() {
  const shown = QUEUES.filter((q) => counts[q.key] !== undefined);
  $("tabs").replaceChildren(
    ...shown.map((q) => {
      const tab = el(
        "button",
        { type: "button", role: "tab", className: "queue-tab", id: `tab-${q.key}` },
        q.label,
        " ",
        el("span", { className: "badge", id: `count-${q.key}` }),
      );
      tab.dataset.queue = q.key;
      tab.onclick = () => {
        location.hash = q.key;
      };
      return tab;
    }),
  );
  $("count-max").textContent = String(countMax);
  drawCounts();
  return shown;
}

async function show(q) {
  current = q;
  for (const tab of document.querySelectorAll(".queue-tab")) {
    tab.setAttribute("aria-selected", String(tab.dataset.queue === q.key));
  }
  $("queue-title").textContent = q.label;
  $("queue-hint").textContent = q.hint;
  document.body.dataset.queue = q.key;
  delete document.body.dataset.loaded;
  $("items").replaceChildren();
  const { items, more } = await q.load();
  if (current !== q) return;
  $("items").replaceChildren(...items.map((i) => q.render(i)));
  $("empty").hidden = items.length > 0;
  $("more").hidden = !more;
  document.body.dataset.loaded = `${q.key}:${items.length}`;
}

async function route() {
  const shown = QUEUES.filter((q) => counts[q.key] !== undefined);
  if (shown.length === 0) {
    say("Your roles read none of the work queues.", true);
    return;
  }
  const wanted = shown.find((q) => q.key === location.hash.slice(1));
  // By default the first queue with something waiting.
  const q = wanted ?? shown.find((s) => (counts[s.key] ?? 0) > 0) ?? shown[0];
  await show(q);
}

async function load() {
  drawCounts(await refreshQueuesBadge());
  drawTabs();
  await route();
}

await startConsole();
window.addEventListener("hashchange", () => route().catch((e) => say(describeError(e), true)));
$("refresh").onclick = () => load().catch((e) => say(describeError(e), true));
load().catch((e) => say(describeError(e), true));
