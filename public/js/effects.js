// Pictures for gifts: an icon per animation key, a look per tier.
const ICONS = {
  "heart-pop": "💗",
  "rose-bloom": "🌹",
  "light-stick-wave": "🪄",
  "six-six-six": "6️⃣",
  "lucky-cat-wave": "🐱",
  "love-letter-fly": "💌",
  "crown-shine": "👑",
  "sports-car-drift": "🏎️",
  "yacht-sail": "🛥️",
  "private-jet-flyby": "🛩️",
  "rocket-launch": "🚀",
};

export function giftVisual(gift) {
  return { icon: ICONS[gift.animationKey] ?? (gift.giftId ? "🎁" : "🧧"), tier: gift.tier ?? "small" };
}
