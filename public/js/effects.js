// Pictures for gifts: an inline SVG per animation key (no emoji font needed), a look per tier.
const svg = (body, view = "0 0 64 64") =>
  `<svg viewBox="${view}" width="1em" height="1em" aria-hidden="true">${body}</svg>`;

const ICONS = {
  "heart-pop": svg(
    '<path d="M32 56 8 32a13 13 0 0 1 24-17 13 13 0 0 1 24 17Z" fill="#ff4f8b"/><circle cx="22" cy="22" r="4" fill="#fff6"/>',
  ),
  "rose-bloom": svg(
    '<path d="M31 34c1 10-1 18-3 26" stroke="#2e9d4f" stroke-width="4" fill="none"/><path d="M30 46c-8-2-12-8-12-8 8-1 12 3 12 8Z" fill="#3cbc62"/>' +
      '<circle cx="32" cy="22" r="15" fill="#e8224d"/><path d="M24 20c4-8 14-8 16 0-4-3-12-3-16 0Z" fill="#ff6f8f"/><path d="M26 27c4 4 10 4 13-1" stroke="#a3102f" stroke-width="3" fill="none"/>',
  ),
  "light-stick-wave": svg(
    '<rect x="28" y="30" width="8" height="28" rx="3" fill="#777"/><rect x="24" y="6" width="16" height="28" rx="8" fill="#7df9ff"/><rect x="27" y="9" width="5" height="20" rx="2.5" fill="#fff9"/>',
  ),
  "six-six-six": svg(
    '<rect x="4" y="14" width="56" height="36" rx="10" fill="#ffb800"/><text x="32" y="42" font-size="24" font-weight="900" text-anchor="middle" fill="#5a2d00" font-family="system-ui">666</text>',
  ),
  "lucky-cat-wave": svg(
    '<circle cx="32" cy="36" r="20" fill="#fff"/><path d="M15 24 14 8l12 10M49 24l1-16-12 10" fill="#fff"/><circle cx="25" cy="34" r="3" fill="#222"/><circle cx="39" cy="34" r="3" fill="#222"/>' +
      '<path d="M28 42q4 3 8 0" stroke="#222" stroke-width="2" fill="none"/><circle cx="32" cy="52" r="5" fill="#ffb800"/><path d="M16 12l6 6M48 12l-6 6" stroke="#ff8fab" stroke-width="3"/>',
  ),
  "love-letter-fly": svg(
    '<rect x="6" y="16" width="52" height="34" rx="5" fill="#fff3f6"/><path d="M6 18l26 20 26-20" stroke="#ff4f8b" stroke-width="3" fill="none"/><path d="M32 34l-7-7a4 4 0 0 1 7-4 4 4 0 0 1 7 4Z" fill="#ff4f8b"/>',
  ),
  "crown-shine": svg(
    '<path d="M8 48 12 18l12 14 8-20 8 20 12-14 4 30Z" fill="#ffc83d"/><rect x="8" y="48" width="48" height="7" rx="2" fill="#e0a100"/><circle cx="32" cy="38" r="4" fill="#e8224d"/>',
  ),
  "sports-car-drift": svg(
    '<path d="M4 40c0-6 4-9 10-10l10-9h18l12 9c5 1 6 4 6 10v4H4Z" fill="#ff2f3a"/><path d="M26 23h14l8 7H20Z" fill="#9fe3ff"/>' +
      '<circle cx="17" cy="45" r="7" fill="#222"/><circle cx="47" cy="45" r="7" fill="#222"/><circle cx="17" cy="45" r="3" fill="#bbb"/><circle cx="47" cy="45" r="3" fill="#bbb"/>',
  ),
  "yacht-sail": svg(
    '<path d="M32 6v32H12Z" fill="#fff"/><path d="M35 12v26h16Z" fill="#dde8ff"/><path d="M4 42h56l-8 12H12Z" fill="#1f5fbf"/><path d="M0 58q8-4 16 0t16 0 16 0 16 0" stroke="#5bc0ff" stroke-width="3" fill="none"/>',
  ),
  "private-jet-flyby": svg(
    '<path d="M6 36 58 24c4-1 4 5 0 6L10 42Z" fill="#e9eef7"/><path d="M28 30 20 12h6l14 15Z" fill="#b8c4d8"/><path d="M26 38l-6 14h6l12-15Z" fill="#b8c4d8"/><path d="M8 35 4 24h5l6 9Z" fill="#b8c4d8"/><circle cx="50" cy="27" r="2" fill="#5bc0ff"/>',
  ),
  "rocket-launch": svg(
    '<path d="M32 4c10 8 13 20 10 34H22C19 24 22 12 32 4Z" fill="#eef2f7"/><circle cx="32" cy="22" r="5" fill="#5bc0ff"/><path d="M22 30l-8 12 9-2ZM42 30l8 12-9-2Z" fill="#e8224d"/>' +
      '<path d="M25 40h14l-3 8h-8Z" fill="#888"/><path d="M28 48h8l-4 14Z" fill="#ffb800"/>',
  ),
  tip: svg(
    '<rect x="12" y="6" width="40" height="52" rx="6" fill="#d61f2c"/><path d="M12 14q20 14 40 0" fill="#b3121e"/><circle cx="32" cy="22" r="7" fill="#ffc83d"/><text x="32" y="26" font-size="9" text-anchor="middle" fill="#b3121e" font-weight="900" font-family="system-ui">¥</text>',
  ),
};

export function giftVisual(gift) {
  const icon = ICONS[gift.animationKey] ?? ICONS.tip;
  return { icon, tier: gift.tier ?? "small" };
}
