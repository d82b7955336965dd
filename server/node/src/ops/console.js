// The console's live charts: polls /api/history (one sample a second,
// the last ten minutes) and draws each series as a line in an SVG.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const CHARTS = {
  throughput: [["commits", "commits/s", "#1d3557"], ["statements", "statements/s", "#2a9d8f"]],
  latency: [["p50_ms", "p50 ms", "#2a9d8f"], ["p99_ms", "p99 ms", "#e76f51"]],
  aborts: [["aborts", "aborts/s", "#b00020"]],
};

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function draw(svg, samples, series) {
  const w = Number(svg.getAttribute("width"));
  const h = Number(svg.getAttribute("height"));
  const pad = { l: 48, r: 8, t: 18, b: 16 };
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  let max = 0;
  for (const s of samples) for (const [key] of series) max = Math.max(max, s[key]);
  max = max > 0 ? max * 1.1 : 1;
  svg.appendChild(el("line", { x1: pad.l, y1: h - pad.b, x2: w - pad.r, y2: h - pad.b, stroke: "#999" }));
  svg.appendChild(el("text", { x: 2, y: pad.t, "font-size": 11 }, max.toPrecision(3)));
  svg.appendChild(el("text", { x: 2, y: h - pad.b, "font-size": 11 }, "0"));
  const n = samples.length;
  series.forEach(([key, label, color], i) => {
    svg.appendChild(el("text", { x: pad.l + 8 + i * 120, y: 12, "font-size": 11, fill: color }, label));
    if (n < 2) return;
    const points = samples.map((s, j) => {
      const x = pad.l + (j / (n - 1)) * (w - pad.l - pad.r);
      const y = h - pad.b - (s[key] / max) * (h - pad.t - pad.b);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    svg.appendChild(el("polyline", { points: points.join(" "), fill: "none", stroke: color, "stroke-width": 1.5, class: "series", "data-series": key }));
  });
}

async function refresh() {
  try {
    const r = await fetch("/api/history");
    const samples = await r.json();
    for (const [id, series] of Object.entries(CHARTS)) {
      const svg = document.getElementById(id);
      if (svg) draw(svg, samples, series);
    }
  } catch (e) {
    console.error("console: " + e);
  }
}

refresh();
setInterval(refresh, 2000);
