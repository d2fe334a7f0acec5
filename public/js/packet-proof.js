// Provably fair red packets, checked in the browser (docs/adr/0008): with WebCrypto, not the
// server's code. A finished packet reveals the seed it committed to at send; from the seed and
// the public claim list this recomputes every share (today's double-mean rule, drawn from
// HMAC-SHA-256(seed, "giftwire-red-packet-v1|<packetId>|<index>|<block>") words by rejection
// sampling) and the luckiest claim, and checks SHA-256(seed) against the commitment.

const SCHEME = "giftwire-red-packet-v1";
const HEX_32 = /^[0-9a-f]{64}$/;

const bytesOf = (hex) => new Uint8Array(hex.match(/../g).map((b) => Number.parseInt(b, 16)));
const hexOf = (buffer) => [...new Uint8Array(buffer)].map((b) => b.toString(16).padStart(2, "0")).join("");

/** A uniform integer source for claim `index`, from the seed's HMAC words (async: WebCrypto). */
function drawsFor(key, packetId, index) {
  let block = 0;
  let words = null;
  let word = 8;
  const encoder = new TextEncoder();
  async function nextWord() {
    if (words === null || word === 8) {
      const digest = await crypto.subtle.sign("HMAC", key, encoder.encode(`${SCHEME}|${packetId}|${index}|${block}`));
      block += 1;
      words = new DataView(digest);
      word = 0;
    }
    const value = words.getUint32(word * 4);
    word += 1;
    return value;
  }
  return async (min, max) => {
    const span = max - min + 1;
    if (span === 1) return min;
    const limit = Math.floor(2 ** 32 / span) * span;
    for (;;) {
      const value = await nextWord();
      if (value < limit) return min + (value % span);
    }
  };
}

/** The share of claim `index` given what is left before it (lucky: double mean; equal: ÷). */
async function shareAt(packet, key, remainingMinor, remainingShares) {
  const index = packet.shares - remainingShares;
  if (packet.split === "equal") {
    const base = Math.floor(packet.totalMinor / packet.shares);
    return base + (index < packet.totalMinor % packet.shares ? 1 : 0);
  }
  if (remainingShares === 1) return remainingMinor;
  const doubleMean = Math.floor((2 * remainingMinor) / remainingShares);
  const max = Math.max(1, Math.min(doubleMean, remainingMinor - (remainingShares - 1)));
  return drawsFor(key, packet.id, index)(1, max);
}

/**
 * Checks a finished packet. `claims`: [{ index, amountMinor }] as published; `luckiestIndex`
 * as published. Returns { ok, commitmentOk, shares: [{ index, claimedMinor, expectedMinor, ok }],
 * stray, expectedLuckiestIndex, luckiestOk }.
 */
export async function verifyPacketProof({ packet, commitment, seed, claims, luckiestIndex }) {
  const seedOk = typeof seed === "string" && HEX_32.test(seed);
  const commitmentOk =
    seedOk &&
    typeof commitment === "string" &&
    hexOf(await crypto.subtle.digest("SHA-256", bytesOf(seed))) === commitment;
  const byIndex = new Map();
  const stray = [];
  for (const c of claims) {
    const valid = Number.isInteger(c.index) && c.index >= 0 && c.index < packet.shares && !byIndex.has(c.index);
    if (valid) byIndex.set(c.index, c.amountMinor);
    else stray.push(c);
  }
  const count = byIndex.size === 0 ? 0 : Math.max(...byIndex.keys()) + 1;
  const shares = [];
  let expectedLuckiestIndex = null;
  if (seedOk) {
    const key = await crypto.subtle.importKey("raw", bytesOf(seed), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    let remainingMinor = packet.totalMinor;
    for (let i = 0; i < count; i++) {
      const expectedMinor = await shareAt(packet, key, remainingMinor, packet.shares - i);
      remainingMinor -= expectedMinor;
      const claimedMinor = byIndex.has(i) ? byIndex.get(i) : null;
      shares.push({ index: i, claimedMinor, expectedMinor, ok: claimedMinor === expectedMinor });
      if (expectedLuckiestIndex === null || expectedMinor > shares[expectedLuckiestIndex].expectedMinor)
        expectedLuckiestIndex = i;
    }
  }
  const luckiestOk = seedOk && expectedLuckiestIndex === luckiestIndex;
  const ok = commitmentOk && stray.length === 0 && shares.length === count && shares.every((s) => s.ok) && luckiestOk;
  return { ok, commitmentOk, shares, stray, expectedLuckiestIndex, luckiestOk };
}

const yuan = (minor) => (minor / 100).toFixed(2);

/**
 * Fetches a finished packet and every page of its claims with `api(method, path)`, checks it,
 * and shows the proof in `container`: a verdict line, then one row per share with ✓ or ✗.
 * `announcedCommitment` is the commitment this page saw when the packet was sent (or null):
 * the one revealed must be the same.
 */
export async function showProof(container, { api, roomId, packetId, announcedCommitment }) {
  container.hidden = false;
  container.replaceChildren(Object.assign(document.createElement("p"), { textContent: "Checking…" }));
  const base = `/v1/rooms/${roomId}/red-packets/${packetId}`;
  const detail = await api("GET", base);
  const claims = [];
  let luckiestIndex = null;
  for (let after = -1; ; ) {
    const page = await api("GET", `${base}/claims?after=${after}&limit=100`);
    claims.push(...page.claims);
    luckiestIndex = page.luckiestIndex;
    if (page.nextAfter === null) break;
    after = page.nextAfter;
  }
  const p = detail.packet;
  const seed = detail.live.seed ?? p.seed;
  const verdict = await verifyPacketProof({
    packet: { id: p.id, totalMinor: p.totalMinor, shares: p.shares, split: p.split },
    commitment: p.commitment,
    seed,
    claims,
    luckiestIndex,
  });
  const sameAsAnnounced = announcedCommitment === null || announcedCommitment === p.commitment;
  const ok = verdict.ok && sameAsAnnounced;
  const head = document.createElement("p");
  head.className = `verdict ${ok ? "ok" : "bad"}`;
  head.textContent = ok
    ? `✓ Fair: all ${claims.length} shares and the luckiest are what the committed seed gives.`
    : "✗ Not verified: the claims do not match the committed seed.";
  const facts = document.createElement("p");
  facts.className = "proof-facts";
  facts.textContent =
    `commitment ${p.commitment} ${verdict.commitmentOk ? "✓ = SHA-256(seed)" : "✗ ≠ SHA-256(seed)"}` +
    (announcedCommitment === null ? "" : sameAsAnnounced ? " · same as announced ✓" : " · NOT the one announced ✗") +
    ` · seed ${seed ?? "(not revealed)"}`;
  const users = new Map(claims.map((c) => [c.index, c.userId]));
  const table = document.createElement("table");
  table.className = "proof-shares";
  table.innerHTML = "<thead><tr><th>#</th><th>who</th><th>¥</th><th></th></tr></thead><tbody></tbody>";
  for (const s of verdict.shares) {
    const tr = document.createElement("tr");
    tr.dataset.ok = String(s.ok);
    const lucky = s.index === verdict.expectedLuckiestIndex ? " ★ luckiest" : "";
    const cells = [
      String(s.index),
      users.get(s.index) ?? "(missing)",
      s.claimedMinor === null ? "—" : yuan(s.claimedMinor),
      s.ok ? `✓${lucky}` : `✗ seed gives ${yuan(s.expectedMinor)}`,
    ];
    for (const text of cells) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
    table.tBodies[0].append(tr);
  }
  const luckiest = document.createElement("p");
  luckiest.className = "proof-facts";
  luckiest.textContent = verdict.luckiestOk
    ? `luckiest #${verdict.expectedLuckiestIndex} ✓`
    : `luckiest ✗ published #${luckiestIndex}, the seed gives #${verdict.expectedLuckiestIndex}`;
  container.replaceChildren(head, facts, table, luckiest);
  container.dataset.verdict = ok ? "fair" : "unfair";
  return ok;
}
