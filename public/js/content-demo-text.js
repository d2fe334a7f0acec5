// The demo articles' text (dev/seed-content.ts registers the items with these ids). A real host
// keeps its articles on its own servers and sends the body only to readers the entitlement
// check (or a verified grant token) lets in; the demo keeps it here and shows it on the same answer.
export const DEMO_TEXT = {
  cnt_01DEMC00000000000000000000: {
    lead:
      "Every night someone asks which chords carry the last song of the set. It is four of them, " +
      "in an order most of you already know — the trick is in how they are voiced and how long each one rings.",
    body: [
      "Start in G, capo on the second fret. Instead of the open G shape, keep the third and fourth " +
        "fingers planted on the B and high E strings (third fret) and let them stay there through the whole progression: " +
        "G, Cadd9, Em7, Dsus4. Those two anchored notes are what makes it sound like one long chord that breathes.",
      "The strumming is down, down-up, up-down-up, but the accent moves: on the G it falls on the first beat, on the " +
        "Cadd9 on the 'and' of two. Count it out loud the first few times; the late accent is what people hear as the groove.",
      "The ending I play live is a slow arpeggio of the Dsus4 resolving to a plain D, then the anchored G again, " +
        "let ring until the room goes quiet. Thank you for reading — and for every song you have asked for.",
    ],
  },
  cnt_01DEMC00000000000000000001: {
    lead:
      "This masterclass takes one song from a strummed sketch to a full fingerstyle arrangement, bar by bar, " +
      "with the fingerings I actually use on stream.",
    body: [
      "Bars 1–8: the thumb keeps a steady alternating bass on the sixth and fourth strings while the melody sits on " +
        "top. Practise the thumb alone with a metronome at 60 until you can talk over it.",
      "Bars 9–16: the melody moves up the neck. Slide into the seventh position on the B string and let the open " +
        "strings ring under it — that shimmer is the arrangement's signature.",
      "Bars 17–24: the bridge drops the bass to a pedal note and adds harmonics on the twelfth fret. Touch the string " +
        "lightly right over the fret wire, pluck, and lift.",
      "Bars 25–32: the last chorus combines everything, and the final chord is a harmonic spread across four strings. " +
        "Slow it down to half speed first; speed comes on its own.",
    ],
  },
};
