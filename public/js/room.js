import { apiClient, subjectOf } from "./api.js";
import { giftVisual } from "./effects.js";
import { formatMinor, LiveClient } from "./live-client.js";
import { showProof } from "./packet-proof.js";
import { askPin, pinLockedText, setPin as setPinWith, triesText } from "./pin.js";
import { offerDemoSignIn, showWallet } from "./viewer.js";

// The viewer page: gifts and tips paid from the wallet, the merged feed, big-gift effects,
// the live leaderboard. Query: ?room=<roomId>&token=<jwt>
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const roomId = params.get("room");
const token = params.get("token") ?? sessionStorage.getItem("giftwire:token");
let userId = null;

const api = apiClient(() => token);

function say(text, isError = false) {
  $("message").textContent = text;
  $("message").classList.toggle("error", isError);
}

async function signIn() {
  if (!token) await offerDemoSignIn(api, say);
}

const refreshWallet = () => showWallet(api, userId);

/** The message typed next to the tip buttons, if any (the server counts its 40 code points). */
function withMessage(body) {
  const message = $("tip-message").value.trim();
  return message === "" ? body : { ...body, message };
}

/** Sets or changes the payment PIN in the dialog (pin.js), saying the outcome on this page. */
const setPin = (reason = "") => setPinWith(api, say, reason);

const HELD_NOTE = "Your message is waiting for review; the room sees it once a moderator approves it.";

async function sendTip(body, label, key = crypto.randomUUID()) {
  say(`Sending ${label}…`);
  try {
    const { tip, heldTip, walletBalanceMinor } = await api("POST", `/v1/rooms/${roomId}/tips`, body, key);
    $("balance").textContent = formatMinor(walletBalanceMinor);
    if (heldTip) {
      // 202: a risk rule sent it to review; the amount is held until an operator decides.
      say(
        `${label} (¥${heldTip.amount}) is held for review: it is sent if approved, or the amount returns to your wallet.`,
      );
      if (body.message) $("tip-message").value = "";
      return;
    }
    say(`Sent ${label} (¥${tip.amount}).${tip.message?.status === "held" ? ` ${HELD_NOTE}` : ""}`);
    if (tip.message) $("tip-message").value = "";
  } catch (error) {
    // Above the password-free (小额免密) limits: ask for the PIN, then send the same request with
    // it. The refused attempt released its key, so the one with the PIN may reuse it.
    const { pin: _tried, ...ask } = body;
    if (error.code === "pin_required" || error.code === "pin_incorrect") {
      const answer = await askPin({
        title: `Send ${label}?`,
        prompt: "This is above your password-free limit: enter your payment PIN.",
        error: error.code === "pin_incorrect" ? triesText(error) : "",
      });
      if (answer !== null) return sendTip({ ...ask, pin: answer.pin }, label, key);
      say(`Not sent: ${label} needs your payment PIN.`, true);
      return;
    }
    if (error.code === "pin_not_set") {
      const pin = await setPin("You have no payment PIN yet. ");
      if (pin !== null) return sendTip({ ...ask, pin }, label, key);
      say(`Not sent: ${label} needs a payment PIN.`, true);
      return;
    }
    if (error.code === "pin_locked") return say(pinLockedText(error), true);
    const messages = {
      insufficient_funds: "Not enough in your wallet.",
      room_not_live: "The stream has ended.",
      message_too_long: "The message is too long: at most 40 characters.",
    };
    say(messages[error.code] ?? error.message, true);
  }
}

function renderGifts(catalog) {
  for (const gift of catalog.gifts) {
    const b = document.createElement("button");
    b.className = `gift tier-${gift.tier}`;
    b.dataset.giftId = gift.id;
    b.innerHTML = `<span class="icon">${giftVisual(gift).icon}</span><span class="name"></span><span class="price">¥${gift.price}</span>`;
    b.querySelector(".name").textContent = gift.name;
    b.onclick = () => {
      const quantity = Number($("quantity").value);
      sendTip(
        withMessage({ kind: "gift", giftId: gift.id, quantity }),
        `${gift.name}${quantity > 1 ? ` ×${quantity}` : ""}`,
      );
    };
    $("gifts").append(b);
  }
  for (const preset of catalog.tipPresets) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = `¥${preset.amount}`;
    b.onclick = () => sendTip(withMessage({ kind: "custom", amount: preset.amount }), `a ¥${preset.amount} tip`);
    $("presets").append(b);
  }
  $("custom-tip").onsubmit = (event) => {
    event.preventDefault();
    const amount = $("custom-amount").value.trim();
    sendTip(withMessage({ kind: "custom", amount }), `a ¥${amount} tip`);
  };
}

const giftNames = new Map();
/** The room socket (set in main). */
let live = null;

// ── red packets ──────────────────────────────────────────────────────────────────────
const packets = new Map(); // id → { view, card, announcedCommitment }

function packetCard(view) {
  const li = document.createElement("li");
  li.className = "packet";
  li.dataset.packetId = view.id;
  li.innerHTML = `<div class="envelope" aria-hidden="true"><div class="flap"></div><div class="seal">¥</div></div>
    <div class="packet-body"><strong class="greeting"></strong><span class="from"></span>
    <span class="left"></span><span class="commitment" hidden></span>
    <button type="button" class="grab">Grab</button><span class="result"></span>
    <button type="button" class="verify" hidden>Verify fairness</button></div><div class="proof" hidden></div>`;
  li.querySelector(".greeting").textContent = view.greeting;
  li.querySelector(".from").textContent = `from ${view.senderId} · ${view.split === "lucky" ? "lucky" : "equal"} split`;
  li.querySelector(".grab").onclick = () => grab(view.id);
  li.querySelector(".verify").onclick = () => verify(view.id);
  if (view.commitment) {
    // Published before the first claim: the seed revealed at the end must hash to this.
    const commitment = li.querySelector(".commitment");
    commitment.hidden = false;
    commitment.textContent = `fair · commitment ${view.commitment.slice(0, 12)}…`;
    commitment.title = `SHA-256 of the seed every share is drawn from: ${view.commitment}`;
  }
  return li;
}

function renderPacket(id) {
  const entry = packets.get(id);
  if (!entry) return;
  const { view, card } = entry;
  card.querySelector(".left").textContent =
    view.status === "open"
      ? `${view.remainingShares} of ${view.shares} left`
      : view.status === "exhausted"
        ? "all claimed"
        : "expired";
  card.dataset.status = view.status;
  const grabButton = card.querySelector(".grab");
  grabButton.disabled = view.status !== "open" || entry.mine !== undefined;
  // A finished packet has nothing left to grab: its place goes to the result and the proof.
  grabButton.hidden = view.status !== "open";
  // Provably fair: once finished, the seed is revealed and anyone can recompute the shares.
  card.querySelector(".verify").hidden = view.status === "open" || !view.commitment;
  $("no-packets").hidden = packets.size > 0;
}

function addPacket(view) {
  if (packets.has(view.id)) return;
  const card = packetCard(view);
  packets.set(view.id, { view, card, announcedCommitment: view.commitment ?? null });
  $("packets").prepend(card);
  renderPacket(view.id);
}

function updatePacket(id, patch) {
  const entry = packets.get(id);
  if (!entry) return;
  Object.assign(entry.view, patch);
  renderPacket(id);
}

/**
 * A claim goes over the room socket when it is open (no new connection, no Worker hop);
 * otherwise, or if the socket drops before answering, over HTTP. Both answer the same
 * fields and codes, and a repeat is answered with the same claim, so asking twice is safe.
 */
async function claimShare(id, card) {
  const frame = await live?.claim(id);
  if (frame) {
    card.dataset.claimedVia = "socket";
    if (frame.ok) return frame;
    throw Object.assign(new Error(frame.error.message), { code: frame.error.code });
  }
  card.dataset.claimedVia = "http";
  return api("POST", `/v1/rooms/${roomId}/red-packets/${id}/claims`);
}

async function grab(id) {
  const entry = packets.get(id);
  try {
    const { claim } = await claimShare(id, entry.card);
    entry.mine = claim.amountMinor;
    entry.card.querySelector(".result").textContent = `You got ¥${claim.amount}`;
    entry.card.classList.add("opened");
    renderPacket(id);
    setTimeout(() => refreshWallet().catch(() => {}), 1500);
  } catch (error) {
    const messages = {
      packet_exhausted: "Too late: all claimed.",
      packet_expired: "This red packet has expired.",
      packet_busy: "Everyone is grabbing; try again in a moment.",
      packet_followers_only: "Only for followers.",
    };
    entry.card.querySelector(".result").textContent = messages[error.code] ?? error.message;
    if (error.code === "packet_exhausted") updatePacket(id, { status: "exhausted", remainingShares: 0 });
  }
}

async function verify(id) {
  const entry = packets.get(id);
  const container = entry.card.querySelector(".proof");
  try {
    await showProof(container, { api, roomId, packetId: id, announcedCommitment: entry.announcedCommitment });
  } catch (error) {
    container.textContent = `Could not check: ${error.message}`;
  }
}

async function sendPacket(event) {
  event.preventDefault();
  const body = {
    total: $("packet-total").value,
    shares: Number($("packet-shares").value),
    split: $("packet-split").value,
  };
  if ($("packet-greeting").value.trim() !== "") body.greeting = $("packet-greeting").value.trim();
  if ($("packet-pay-cashier").checked) return payPacketAtCashier(body);
  say("Sending a red packet…");
  try {
    const { packet, greetingStatus, walletBalanceMinor } = await api(
      "POST",
      `/v1/rooms/${roomId}/red-packets`,
      body,
      crypto.randomUUID(),
    );
    $("balance").textContent = formatMinor(walletBalanceMinor);
    say(
      `Sent a red packet of ¥${packet.total} in ${packet.shares} shares.` +
        (greetingStatus === "held" ? " Your greeting is shown once a moderator approves it." : ""),
    );
    $("send-packet").reset();
  } catch (error) {
    const messages = {
      insufficient_funds: "Not enough in your wallet.",
      room_not_live: "The stream has ended.",
      amount_out_of_range: error.message,
    };
    say(messages[error.code] ?? error.message, true);
  }
}

// ── red packets paid at the cashier ──────────────────────────────────────────────────
// The send form's "the cashier" option opens a channel order of kind "packet" for the total; the
// packet goes out (once) when the channel reports the payment, and arrives here over the socket
// like any other. The demo's channel is the sandbox provider, whose checkout sheet opens in a tab.
const CASHIER_METHOD = "sandbox";
/** The order being watched (a newer one replaces it). */
let cashierOrderId = null;

function cashierState(state, text) {
  $("cashier-state").dataset.state = state;
  $("cashier-state").textContent = text;
}

async function payPacketAtCashier(ask, key = crypto.randomUUID(), pin = undefined) {
  say("Opening the cashier…");
  let answer;
  try {
    answer = await api(
      "POST",
      "/v1/payments/orders",
      { kind: "packet", method: CASHIER_METHOD, packet: { roomId, ...ask }, ...(pin ? { pin } : {}) },
      key,
    );
  } catch (error) {
    // A risk rule may ask the payer to confirm with the PIN: the same request again, same key.
    if (error.code === "risk_challenge" || error.code === "pin_incorrect") {
      const reply = await askPin({
        title: `Pay ¥${ask.total} at the cashier?`,
        prompt: "Confirm this payment with your payment PIN.",
        error: error.code === "pin_incorrect" ? triesText(error) : "",
      });
      if (reply !== null) return payPacketAtCashier(ask, key, reply.pin);
      return say("Not sent: this payment needs your payment PIN.", true);
    }
    if (error.code === "pin_locked") return say(pinLockedText(error), true);
    const messages = {
      room_not_live: "The stream has ended.",
      amount_out_of_range: error.message,
      channel_unavailable: "The cashier is not available right now; pay from your wallet or try later.",
    };
    return say(messages[error.code] ?? error.message, true);
  }
  const { order, payment } = answer;
  cashierOrderId = order.id;
  $("cashier").hidden = false;
  $("cashier").dataset.orderId = order.id;
  $("cashier-amount").textContent = `¥${order.amount}`;
  $("cashier-order").textContent = order.id;
  const request = order.packet?.request;
  $("cashier-what").textContent =
    `A red packet of ¥${order.amount}${request ? ` in ${request.shares} shares (${request.split} split)` : ""}, ` +
    "sent to the room as soon as the payment succeeds.";
  const link = $("cashier-pay");
  const url = payment?.kind === "qr_code" ? payment.codeUrl : payment?.url;
  link.hidden = !url;
  if (url) link.href = url;
  link.textContent =
    payment?.kind === "qr_code" ? "Scan or open the payment code" : `Pay ¥${order.amount} at the cashier`;
  cashierState("pending", "Waiting for your payment…");
  say("Pay at the cashier to send your red packet.");
  $("send-packet").reset();
  watchOrder(order.id, order.expiresAtMs);
}

async function watchOrder(orderId, expiresAtMs) {
  // Until the order settles, or a minute past its deadline (the channel is queried then).
  while (cashierOrderId === orderId && Date.now() < expiresAtMs + 60_000) {
    await new Promise((r) => setTimeout(r, 1000));
    let order;
    try {
      ({ order } = await api("GET", `/v1/payments/orders/${orderId}`));
    } catch {
      continue; // a dropped request: ask again
    }
    if (cashierOrderId !== orderId) return;
    if (order.state === "succeeded") {
      $("cashier-pay").hidden = true;
      refreshWallet().catch(() => {});
      if (order.packet?.outcome === "sent") {
        cashierState("paid", `Paid ¥${order.amount} · your red packet is in the room.`);
        say("Your red packet is in the room.");
        $("cashier").dataset.packetId = order.packet.packetId ?? "";
      } else if (order.packet?.outcome) {
        cashierState(
          "not-sent",
          `Paid ¥${order.amount}, but the red packet could not go out (${order.packet.outcome.replaceAll("_", " ")}): ` +
            "the money is in your wallet.",
        );
      } else {
        continue; // paid; the packet is on its way
      }
      return;
    }
    if (order.state === "failed" || order.state === "closed") {
      $("cashier-pay").hidden = true;
      cashierState(
        "failed",
        order.state === "failed"
          ? "The payment did not go through: no red packet was sent, nothing was charged."
          : "The order expired unpaid: no red packet was sent.",
      );
      return;
    }
  }
}

function feed(text, big = false) {
  const li = document.createElement("li");
  li.textContent = text;
  if (big) li.className = "big";
  $("feed").prepend(li);
  while ($("feed").children.length > 100) $("feed").lastChild.remove();
}

/** A tip message as the room shows it: passed or masked with its tip, or a held one once approved. */
function showMessage(message) {
  if (document.querySelector(`#messages li[data-tip-id="${message.tipId}"]`)) return;
  const li = document.createElement("li");
  li.dataset.tipId = message.tipId;
  li.innerHTML = "<b></b>: <span></span>";
  li.querySelector("b").textContent = message.viewerId;
  li.querySelector("span").textContent = message.text;
  $("messages").prepend(li);
  while ($("messages").children.length > 50) $("messages").lastChild.remove();
}

function renderBoard(board) {
  const top = board.top;
  const max = top[0]?.totalMinor ?? 1;
  $("board").replaceChildren(
    ...top.map((entry) => {
      const li = document.createElement("li");
      li.innerHTML = `<div class="bar" style="width:${Math.max(4, (100 * entry.totalMinor) / max)}%"></div>
        <span>#${entry.rank} <b></b></span><span class="amount">¥${formatMinor(entry.totalMinor)}</span>`;
      li.querySelector("b").textContent = entry.viewerId;
      return li;
    }),
  );
  if (board.me) $("my-rank").textContent = `You: #${board.me.rank}, ¥${formatMinor(board.me.totalMinor)}`;
}

function playEffect(gift) {
  const el = document.createElement("div");
  el.className = `alert tier-${gift.tier ?? "big"}`;
  el.innerHTML = `<div class="alert-icon">${giftVisual(gift).icon}</div><div class="alert-text"><strong></strong> sent <em></em></div>`;
  el.querySelector("strong").textContent = gift.viewerId;
  el.querySelector("em").textContent =
    `${gift.giftName ?? `¥${formatMinor(gift.amountMinor)}`}${gift.combo.count > 1 ? ` ×${gift.combo.count}` : ""}`;
  $("effect-stage").replaceChildren(el);
  setTimeout(() => el.classList.add("leaving"), 3000);
  setTimeout(() => el.remove(), 3400);
}

async function main() {
  if (!roomId) {
    say("Open this page with ?room=<roomId>.", true);
    return;
  }
  await signIn();
  userId = subjectOf(token);
  const [catalog, room] = await Promise.all([api("GET", "/v1/gifts"), api("GET", `/v1/rooms/${roomId}`)]);
  for (const g of catalog.gifts) giftNames.set(g.id, g.name);
  $("title").textContent = room.title;
  renderGifts(catalog);
  $("send-packet").addEventListener("submit", sendPacket);
  $("send-packet").addEventListener("change", () => {
    $("packet-send").textContent = $("packet-pay-cashier").checked ? "Continue to the cashier" : "Send red packet";
  });
  $("send-packet").addEventListener("reset", () => {
    $("packet-send").textContent = "Send red packet";
  });
  $("pin-settings").onclick = () => setPin();
  await refreshWallet();
  live = new LiveClient({
    roomId,
    role: "viewer",
    token,
    onStatus: (state) => {
      $("live-status").dataset.state = state;
      $("live-status").textContent = state;
    },
    onFrame: (frame) => {
      switch (frame.type) {
        case "snapshot":
          renderBoard(frame.leaderboard);
          if (frame.room.status !== "live") $("live-status").textContent = "offline";
          for (const view of [...frame.redPackets].reverse()) addPacket(view);
          $("no-packets").hidden = packets.size > 0;
          break;
        case "packet.sent":
          addPacket(frame.packet);
          feed(`${frame.packet.senderId} sent a red packet: ${frame.packet.greeting}`, true);
          break;
        case "packet.greeting": {
          // A held greeting an operator approved replaces the default one.
          const card = packets.get(frame.packetId)?.card;
          if (card) card.querySelector(".greeting").textContent = frame.greeting;
          break;
        }
        case "packet.progress":
          for (const p of frame.packets) updatePacket(p.id, { remainingShares: p.remainingShares });
          break;
        case "packet.exhausted":
          updatePacket(frame.packetId, { status: "exhausted", remainingShares: 0, seed: frame.seed });
          if (frame.luckiest)
            feed(
              `Red packet all claimed — luckiest: ${frame.luckiest.userId} ¥${formatMinor(frame.luckiest.amountMinor)}`,
            );
          break;
        case "packet.expired":
          updatePacket(frame.packetId, { status: "expired", seed: frame.seed });
          break;
        case "tips.merged": {
          const m = frame.merged;
          const combos = m.combos.map((c) => `${c.viewerId} ${giftNames.get(c.giftId) ?? c.giftId} ×${c.quantity}`);
          feed(`${m.tipCount} tips · ¥${formatMinor(m.totalMinor)}${combos.length ? ` — ${combos.join(", ")}` : ""}`);
          for (const message of m.messages ?? []) showMessage(message);
          renderBoard(frame.leaderboard);
          break;
        }
        case "gift.big":
          feed(
            `${frame.gift.viewerId} sent ${frame.gift.giftName ?? "a big tip"} · ¥${formatMinor(frame.gift.amountMinor)}`,
            true,
          );
          playEffect(frame.gift);
          if (frame.gift.message) {
            showMessage({ tipId: frame.gift.tipId, viewerId: frame.gift.viewerId, text: frame.gift.message });
          }
          break;
        case "tip.message":
          showMessage(frame.message);
          break;
        case "leaderboard":
          renderBoard(frame.leaderboard);
          break;
        case "room.ended":
          $("live-status").textContent = "offline";
          feed("The stream has ended.");
          break;
        case "room.live":
          $("live-status").textContent = "live";
          break;
      }
    },
  });
}

main().catch((error) => say(error.message, true));
