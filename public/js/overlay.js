import { giftVisual } from "./effects.js";
import { formatMinor, LiveClient } from "./live-client.js";

// The broadcaster's OBS overlay: every big gift, one at a time, none twice, none lost.
// Query: ?room=<roomId>&key=<overlayKey>[&alertMs=6000]

const params = new URLSearchParams(location.search);
const roomId = params.get("room");
const overlayKey = params.get("key");
const alertMs = Math.max(1500, Math.min(20_000, Number(params.get("alertMs") ?? 6000)));
const stage = document.getElementById("stage");
const status = document.getElementById("status");
const shownLog = document.getElementById("shown");

const queue = [];
let showing = false;
const skipped = new Set();
// Alerts received but not yet fully shown. The room may forget everything up to just
// before the oldest of them, and everything received if there are none.
const pending = new Set();
let maxSeen = -1;

function advance() {
  const safe = pending.size > 0 ? Math.min(...pending) - 1 : maxSeen;
  if (safe >= 0) client.handled(safe);
}

function enqueue(alert) {
  if (pending.has(alert.seq)) return;
  pending.add(alert.seq);
  queue.push(alert);
  if (!showing) showNext();
}

async function showNext() {
  const alert = queue.shift();
  if (!alert) {
    showing = false;
    return;
  }
  showing = true;
  if (alert.type === "gift.big" && skipped.has(alert.seq)) {
    pending.delete(alert.seq);
    advance();
    return showNext();
  }
  const { gift } = alert;
  const visual = giftVisual(gift);
  const el = document.createElement("div");
  el.className = `alert tier-${gift.tier ?? "big"}`;
  el.dataset.seq = String(alert.seq);
  el.innerHTML = `<div class="alert-icon">${visual.icon}</div>
    <div class="alert-text"><strong></strong> sent <em></em>${gift.quantity > 1 ? ` ×${gift.quantity}` : ""}
    ${gift.combo.count > gift.quantity ? `<span class="combo">combo ×${gift.combo.count}</span>` : ""}
    <div class="alert-amount">¥${formatMinor(gift.amountMinor)}</div></div>`;
  el.querySelector("strong").textContent = gift.viewerId;
  el.querySelector("em").textContent = gift.giftName ?? "a tip";
  stage.replaceChildren(el);
  const logItem = document.createElement("li");
  logItem.textContent = `${alert.seq}:${gift.tipId}`;
  shownLog.append(logItem);
  await new Promise((r) => setTimeout(r, alertMs));
  el.classList.add("leaving");
  await new Promise((r) => setTimeout(r, 400));
  el.remove();
  pending.delete(alert.seq);
  advance();
  showNext();
}

const client = new LiveClient({
  roomId,
  role: "overlay",
  overlayKey,
  onStatus: (state) => {
    status.dataset.state = state;
    status.textContent = state === "revoked" ? "overlay key rotated: paste the new overlay URL into OBS" : state;
  },
  onFrame: (frame) => {
    if (typeof frame.seq === "number" && frame.type !== "snapshot") maxSeen = Math.max(maxSeen, frame.seq);
    switch (frame.type) {
      case "gift.big":
        enqueue(frame);
        break;
      case "alert.replay":
        enqueue({ ...frame, gift: frame.gift });
        break;
      case "alert.skip":
        skipped.add(frame.alertSeq);
        if (stage.firstElementChild?.dataset.seq === String(frame.alertSeq))
          stage.firstElementChild.classList.add("leaving");
        advance();
        break;
      case "snapshot":
        if (frame.resumeFromSeq !== null) maxSeen = Math.max(maxSeen, frame.resumeFromSeq);
        break;
      default:
        // Merged frames and leaderboards are for viewers; the overlay only moves past them.
        advance();
    }
  },
});
