// The payment PIN (支付密码) dialog the viewer pages share (room.html, content.html: each has the
// #pin-dialog markup): asked for above the password-free limits, set or changed from the header.
const $ = (id) => document.getElementById(id);

/**
 * Asks for the payment PIN in the dialog. mode "enter": one PIN; "set": a new PIN, and the
 * current one when `withOld`. Resolves with { pin, oldPin } or null when cancelled.
 */
export function askPin({ mode = "enter", title, prompt, error = "", withOld = false }) {
  const dialog = $("pin-dialog");
  $("pin-title").textContent = title;
  $("pin-prompt").textContent = prompt;
  $("pin-error").textContent = error;
  $("pin-label").textContent = mode === "set" ? "New PIN (6 digits)" : "PIN";
  $("pin-old-label").hidden = !withOld;
  $("pin-old").required = withOld;
  $("pin-old").value = "";
  $("pin-input").value = "";
  return new Promise((resolve) => {
    const done = (value) => {
      $("pin-form").onsubmit = null;
      $("pin-cancel").onclick = null;
      dialog.close();
      resolve(value);
    };
    $("pin-form").onsubmit = (event) => {
      event.preventDefault();
      done({ pin: $("pin-input").value, oldPin: withOld ? $("pin-old").value : undefined });
    };
    $("pin-cancel").onclick = () => done(null);
    dialog.showModal();
    (withOld ? $("pin-old") : $("pin-input")).focus();
  });
}

const PIN_MESSAGES = {
  pin_too_simple: "Too easy to guess (one digit repeated, or digits in a row). Choose another.",
  malformed_request: "A PIN is exactly 6 digits.",
};

/** Sets (or, with the current one, changes) the payment PIN; the new PIN once saved, else null. */
export async function setPin(api, say, reason = "") {
  const state = await api("GET", "/v1/me/pin");
  let error = "";
  for (;;) {
    const answer = await askPin({
      mode: "set",
      title: state.set ? "Change your payment PIN" : "Set a payment PIN",
      prompt: `${reason}Six digits, asked for above your password-free limits and for withdrawals.`,
      error,
      withOld: state.set,
    });
    if (answer === null) return null;
    try {
      await api("PUT", "/v1/me/pin", state.set ? answer : { pin: answer.pin });
      say("Payment PIN saved.");
      return answer.pin;
    } catch (e) {
      if (e.code === "pin_locked") {
        say(pinLockedText(e), true);
        return null;
      }
      error = e.code === "pin_incorrect" ? triesText(e) : (PIN_MESSAGES[e.code] ?? e.message);
    }
  }
}

export const triesText = (e) => `Wrong PIN — ${e.details?.triesLeft ?? 0} tries left.`;
export const pinLockedText = (e) =>
  `Your payment PIN is locked after too many wrong tries${
    e.details?.lockedUntilMs ? ` until ${new Date(e.details.lockedUntilMs).toLocaleTimeString()}` : ""
  }.`;
