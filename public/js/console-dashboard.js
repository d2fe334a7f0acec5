import { $, api, currentToken, say, startConsole } from "./console-common.js";
import { formatMinor } from "./live-client.js";

// The operator console's platform dashboard: GMV and revenue, tips and paid unlocks, paying users, red packets,
// and one period's top 10 creators, rooms and gifts, per day, ISO week or month, from
// GET /v1/admin/dashboard (rollups: a bounded read whatever the range). Query: ?token=<jwt>
// (see console-common.js), &grain=, &from=, &to=.
const params = new URLSearchParams(location.search);
const charts = {};
const state = { grain: params.get("grain") ?? "day", from: params.get("from"), to: params.get("to"), top: null };

const INK = "#f4f1ff";
const MUTED = "#a59fc0";
const GRID = "rgba(165, 159, 192, 0.15)";
const yuan = (minor) => `¥${formatMinor(minor)}`;
const isoDay = (d) => d.toISOString().slice(0, 10);

function draw(id, config) {
  charts[id]?.destroy();
  charts[id] = new window.Chart($(id), config);
}

function axes(extra = {}) {
  return {
    x: { ticks: { color: MUTED, maxRotation: 0, autoSkip: true }, grid: { color: GRID } },
    y: { ticks: { color: MUTED }, grid: { color: GRID }, beginAtZero: true, ...extra },
  };
}

const base = { animation: false, maintainAspectRatio: false, plugins: { legend: { labels: { color: INK } } } };

function query() {
  const q = new URLSearchParams({ grain: state.grain, from: state.from, to: state.to });
  if (state.top) q.set("top", state.top);
  return q;
}

function label(period) {
  return state.grain === "day" ? period.slice(5) : period;
}

function drawSeries(d) {
  const labels = d.series.map((p) => label(p.period));
  draw("gmv-chart", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "GMV ¥", data: d.series.map((p) => p.gmvMinor / 100), backgroundColor: "#ff3d7f" },
        { label: "Platform revenue ¥", data: d.series.map((p) => p.platformMinor / 100), backgroundColor: "#ffb800" },
      ],
    },
    options: { ...base, scales: axes() },
  });
  draw("tips-chart", {
    type: "line",
    data: {
      labels,
      datasets: [
        {
          label: "Tips",
          data: d.series.map((p) => p.tipCount),
          borderColor: "#7b61ff",
          backgroundColor: "#7b61ff",
          tension: 0.2,
        },
        {
          label: "Paid unlocks",
          data: d.series.map((p) => p.unlockCount),
          borderColor: "#ff5fa8",
          backgroundColor: "#ff5fa8",
          tension: 0.2,
        },
      ],
    },
    options: { ...base, scales: axes({ ticks: { color: MUTED, precision: 0 } }) },
  });
  draw("payers-chart", {
    type: "line",
    data: {
      labels,
      datasets: [
        {
          label: "Paying users",
          data: d.series.map((p) => p.payingUsers),
          borderColor: "#29c5a5",
          backgroundColor: "#29c5a5",
          tension: 0.2,
        },
      ],
    },
    options: { ...base, scales: axes({ ticks: { color: MUTED, precision: 0 } }) },
  });
  draw("packets-chart", {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Sent ¥", data: d.series.map((p) => p.packetsSentMinor / 100), backgroundColor: "#ff8a3d" },
        { label: "Claimed ¥", data: d.series.map((p) => p.claimedMinor / 100), backgroundColor: "#4aa3ff" },
      ],
    },
    options: { ...base, scales: axes() },
  });
  const sum = (k) => d.series.reduce((s, p) => s + p[k], 0);
  $("kpi-gmv").textContent = yuan(sum("gmvMinor"));
  $("kpi-revenue").textContent = yuan(sum("platformMinor"));
  $("kpi-tips").textContent = String(sum("tipCount"));
  $("kpi-unlocks").textContent = yuan(sum("unlockMinor"));
  const unlocks = sum("unlockCount");
  $("kpi-unlocks-note").textContent = `${unlocks} unlock${unlocks === 1 ? "" : "s"}, gross`;
  // Distinct payers do not add up over periods: show the last period that had any.
  const lastPoint = [...d.series].reverse().find((p) => p.payingUsers > 0) ?? d.series[d.series.length - 1];
  $("kpi-payers").textContent = String(lastPoint?.payingUsers ?? 0);
  $("kpi-payers-note").textContent = lastPoint ? `distinct, ${lastPoint.period}` : "distinct";
}

function drawTop(id, rows) {
  draw(id, {
    type: "bar",
    data: {
      labels: rows.map((r) => r.label ?? r.key),
      datasets: [
        { label: "¥", data: rows.map((r) => r.amountMinor / 100), backgroundColor: "#c86bff", maxBarThickness: 22 },
      ],
    },
    options: {
      ...base,
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: {
        x: { ticks: { color: MUTED }, grid: { color: GRID }, beginAtZero: true },
        y: { ticks: { color: INK, autoSkip: false }, grid: { display: false } },
      },
    },
  });
}

function fillTopPeriods(d) {
  const select = $("top-period");
  select.replaceChildren(
    ...d.series
      .map((p) => p.period)
      .reverse()
      .map((p) => Object.assign(document.createElement("option"), { value: p, textContent: p })),
  );
  select.value = d.top.period;
}

async function load() {
  const q = query();
  $("csv-link").href = `/v1/admin/dashboard.csv?${q}`;
  history.replaceState(null, "", `?${new URLSearchParams({ grain: state.grain, from: state.from, to: state.to })}`);
  for (const b of document.querySelectorAll("[data-grain]"))
    b.setAttribute("aria-pressed", String(b.dataset.grain === state.grain));
  $("from").value = state.from;
  $("to").value = state.to;
  const d = await api("GET", `/v1/admin/dashboard?${q}`);
  // Tops default to the last period with tips or unlocks (today may have none yet).
  const active = [...d.series].reverse().find((p) => p.tipCount > 0 || p.unlockCount > 0);
  if (state.top === null && d.top.creators.length === 0 && active && active.period !== d.top.period) {
    state.top = active.period;
    return load();
  }
  drawSeries(d);
  fillTopPeriods(d);
  drawTop("top-creators", d.top.creators);
  drawTop("top-rooms", d.top.rooms);
  drawTop("top-gifts", d.top.gifts);
  document.body.dataset.loaded = `${d.grain}:${d.series.length}`;
  say("");
}

function reload() {
  load().catch((e) => say(e.message, true));
}

async function downloadCsv() {
  const res = await fetch($("csv-link").href, { headers: { authorization: `Bearer ${currentToken()}` } });
  if (!res.ok) throw new Error(`The CSV is not available (${res.status}).`);
  const name = /filename="([^"]+)"/.exec(res.headers.get("content-disposition") ?? "")?.[1] ?? "giftwire-dashboard.csv";
  const url = URL.createObjectURL(await res.blob());
  Object.assign(document.createElement("a"), { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function setRange(days) {
  const to = state.to ? new Date(`${state.to}T00:00:00Z`) : new Date();
  state.to = isoDay(to);
  state.from = isoDay(new Date(to.getTime() - (days - 1) * 86_400_000));
}

await startConsole();
if (!state.to || !state.from) setRange(30);
for (const b of document.querySelectorAll("[data-grain]")) {
  b.onclick = () => {
    state.grain = b.dataset.grain;
    state.top = null;
    reload();
  };
}
for (const b of document.querySelectorAll("[data-days]")) {
  b.onclick = () => {
    setRange(Number(b.dataset.days));
    state.top = null;
    reload();
  };
}
$("from").onchange = () => {
  state.from = $("from").value;
  state.top = null;
  reload();
};
$("to").onchange = () => {
  state.to = $("to").value;
  state.top = null;
  reload();
};
$("top-period").onchange = () => {
  state.top = $("top-period").value;
  reload();
};
$("csv-link").onclick = (ev) => {
  ev.preventDefault();
  downloadCsv().catch((e) => say(e.message, true));
};
reload();
