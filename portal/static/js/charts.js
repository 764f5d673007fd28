// Charts drawn with the vendored Chart.js from data the page puts in a data-chart attribute (JSON), since the
// CSP allows no inline scripts. Each chart's numbers are also on the page as a table, so nothing depends on this.
//
// data-chart: {"type": "bar", "stacked": true, "labels": [...], "datasets": [{"label": "...", "data": [...]}],
//              "yTitle": "...", "money": true, "legend": false}
// "money": the data are centavos (integers), drawn and labelled as reais in the page's language (R$ 1.234,56);
// "legend": false hides the legend (a single unnamed series).
(function () {
  "use strict";

  // Colour-blind-friendly (Okabe–Ito), in the order of the datasets.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

  function draw(canvas) {
    let spec;
    try {
      spec = JSON.parse(canvas.dataset.chart);
    } catch (error) {
      return;
    }
    const stacked = Boolean(spec.stacked);
    const money = Boolean(spec.money);
    const currency = new Intl.NumberFormat(document.documentElement.lang || "pt-BR", {
      style: "currency",
      currency: "BRL",
    });
    const reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    const datasets = (spec.datasets || []).map((dataset, index) => ({
      label: dataset.label,
      data: money ? (dataset.data || []).map((cents) => cents / 100) : dataset.data,
      backgroundColor: PALETTE[index % PALETTE.length],
      borderWidth: 0,
    }));
    // eslint-disable-next-line no-new
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels || [], datasets: datasets },
      options: {
        responsive: true,
        aspectRatio: window.innerWidth < 576 ? 1.4 : 2.5, // a phone: taller, or the bars are a thin strip
        animation: reduceMotion ? false : undefined,
        plugins: {
          legend: { display: spec.legend !== false, position: "bottom" },
          tooltip: money
            ? { callbacks: { label: (item) => `${item.dataset.label}: ${currency.format(item.parsed.y)}` } }
            : {},
        },
        scales: {
          x: { stacked: stacked },
          y: {
            stacked: stacked,
            beginAtZero: true,
            ticks: money ? { callback: (value) => currency.format(value) } : { precision: 0 },
            title: { display: Boolean(spec.yTitle), text: spec.yTitle || "" },
          },
        },
      },
    });
  }

  function start() {
    if (!window.Chart) {
      return;
    }
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
