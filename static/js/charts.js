// Charts drawn with the vendored Chart.js from data the page puts in a data-chart attribute (JSON), since the
// CSP allows no inline scripts. Each chart's numbers are also on the page as a table, so nothing depends on this.
//
// data-chart: {"type": "bar", "stacked": true, "labels": [...], "datasets": [{"label": "...", "data": [...]}],
//              "yTitle": "..."}
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
    const reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    const datasets = (spec.datasets || []).map((dataset, index) => ({
      label: dataset.label,
      data: dataset.data,
      backgroundColor: PALETTE[index % PALETTE.length],
      borderWidth: 0,
    }));
    // eslint-disable-next-line no-new
    new window.Chart(canvas, {
      type: spec.type || "bar",
      data: { labels: spec.labels || [], datasets: datasets },
      options: {
        responsive: true,
        aspectRatio: 2.5,
        animation: reduceMotion ? false : undefined,
        plugins: { legend: { position: "bottom" } },
        scales: {
          x: { stacked: stacked },
          y: {
            stacked: stacked,
            beginAtZero: true,
            ticks: { precision: 0 },
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
