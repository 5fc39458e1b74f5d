"""The report's inline style sheet and script (no files, no CDN: the page stands alone).

The script only enhances a page that is complete without it: copy buttons, the
step-detail panel, and selecting a step in both runs at once. It reads text from
the page with `textContent` and writes it back the same way, never as HTML.
"""

from __future__ import annotations

CSS = """
:root { --ink:#1d2330; --muted:#5b6475; --line:#d8dce4; --bg:#f6f7f9; --card:#fff;
  --dep:#f59e0b; --dep-bg:#fff4dc; --race:#d1263b; --race-bg:#fde8eb; --part:#7c3aed; --ok:#15803d; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:var(--bg); }
header.top { background:#1d2330; color:#fff; padding:14px 24px; }
header.top h1 { margin:0; font-size:20px; font-weight:600; overflow-wrap:anywhere; }
header.top .sub { color:#b8c0d0; font-size:13px; margin-top:2px; overflow-wrap:anywhere; }
main { padding:16px 24px 40px; max-width:100%; }
section.card { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:0 0 16px; }
section.card h2 { margin:0 0 10px; font-size:16px; }
section.card h3 { margin:14px 0 6px; font-size:14px; }
.verdict { display:inline-block; padding:1px 8px; border-radius:10px; font-weight:600; font-size:12px; }
.verdict.bad { background:var(--race-bg); color:var(--race); } .verdict.good { background:#e3f5e9; color:var(--ok); }
.verdict.neutral { background:#eef0f4; color:var(--muted); }
.message { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:13px; background:#fbfbfc; border-left:3px solid var(--race);
  padding:6px 10px; white-space:pre-wrap; overflow-wrap:anywhere; margin:8px 0; }
dl.facts { display:grid; grid-template-columns:max-content 1fr; gap:2px 14px; margin:6px 0; font-size:13px; }
dl.facts dt { color:var(--muted); } dl.facts dd { margin:0; font-family:ui-monospace,Menlo,Consolas,monospace; overflow-wrap:anywhere; }
.copyable { display:flex; align-items:center; gap:8px; margin:6px 0; }
.copy-label { color:var(--muted); font-size:12px; min-width:64px; }
.copy-text { flex:1; font:12.5px ui-monospace,Menlo,Consolas,monospace; background:#f1f3f6; border:1px solid var(--line);
  border-radius:5px; padding:5px 8px; overflow-wrap:anywhere; user-select:all; }
.copy-button { font:inherit; font-size:12px; padding:4px 10px; border:1px solid #aab2c0; border-radius:5px; background:#fff; cursor:pointer; }
.copy-button:hover { background:#eef1f6; }
table.grid { border-collapse:collapse; font-size:13px; margin:4px 0 8px; }
table.grid th, table.grid td { border:1px solid var(--line); padding:4px 9px; text-align:left; vertical-align:top; }
table.grid th { background:#f1f3f6; font-weight:600; }
table.grid td.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.unexpected td { background:var(--race-bg); }
.legend { display:flex; flex-wrap:wrap; gap:14px; font-size:12px; color:var(--muted); margin:4px 0 8px; }
.legend span::before { content:""; display:inline-block; width:11px; height:11px; border-radius:3px; margin-right:5px; vertical-align:-1px; background:var(--c); }
.scroll { overflow-x:auto; border:1px solid var(--line); border-radius:6px; background:#fff; }
svg.timeline text { font:11px ui-monospace,Menlo,Consolas,monospace; fill:var(--ink); }
svg.timeline .lane-name { font-size:10.5px; fill:var(--muted); }
svg.timeline .panel-title { font:600 13px system-ui,sans-serif; }
svg.timeline .time { fill:var(--muted); }
svg.timeline .idx { fill:#8a93a5; }
svg.timeline g.step { cursor:pointer; }
svg.timeline g.step:hover .band, svg.timeline g.step.selected .band { fill:#e7ecf7; }
svg.timeline .raced .label { fill:var(--race); font-weight:700; }
svg.timeline .callback .label { fill:#8a93a5; }
svg.timeline a text { text-decoration:underline; }
ol.departures li { margin:0 0 10px; }
ol.departures .opt { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:12.5px; overflow-wrap:anywhere; }
.taken { color:var(--dep); font-weight:700; }
.source { margin:10px 0; border:1px solid var(--line); border-radius:6px; overflow:hidden; }
.source:target { outline:3px solid var(--race); }
.source .where { background:#f1f3f6; padding:4px 10px; font-size:12.5px; font-family:ui-monospace,Menlo,Consolas,monospace; }
.source pre { margin:0; padding:6px 0; font:12.5px/1.5 ui-monospace,Menlo,Consolas,monospace; overflow-x:auto; }
.source pre span { display:block; padding:0 10px; white-space:pre; }
.source pre span.hit { background:var(--race-bg); box-shadow:inset 3px 0 var(--race); }
.source pre em { color:#8a93a5; font-style:normal; display:inline-block; width:44px; }
.muted { color:var(--muted); }
#step-detail { position:sticky; bottom:0; background:#1d2330; color:#fff; padding:8px 24px; font:12.5px ui-monospace,Menlo,Consolas,monospace;
  overflow-wrap:anywhere; min-height:34px; }
svg.chart text { font:11px system-ui,sans-serif; fill:var(--muted); }
svg.chart .title { font:600 13px system-ui,sans-serif; fill:var(--ink); }
.charts { display:flex; flex-wrap:wrap; gap:16px; }
"""

SCRIPT = r"""
(function () {
  "use strict";
  function copyText(button) {
    var node = document.getElementById(button.getAttribute("data-copy"));
    if (!node) { return; }
    var text = node.textContent;
    function selectAll() {
      // Fallback where the clipboard API is refused (file:// pages, old browsers):
      // select the text so Ctrl+C / Cmd+C copies it.
      var range = document.createRange();
      range.selectNodeContents(node);
      var selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      button.textContent = copied ? "Copied" : "Selected: press Ctrl+C";
    }
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; }, selectAll);
    } else {
      selectAll();
    }
  }
  var buttons = document.querySelectorAll("button[data-copy]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (event) { copyText(event.currentTarget); });
  }
  var detail = document.createElement("div");
  detail.id = "step-detail";
  detail.textContent = "Click a step of a timeline to see it here (and the same step of the other run).";
  var steps = document.querySelectorAll("svg.timeline g.step");
  function show(step) {
    var index = step.getAttribute("data-step");
    var selected = document.querySelectorAll("svg.timeline g.step.selected");
    for (var k = 0; k < selected.length; k++) { selected[k].classList.remove("selected"); }
    var same = document.querySelectorAll('svg.timeline g.step[data-step="' + index + '"]');
    for (var m = 0; m < same.length; m++) { same[m].classList.add("selected"); }
    var parts = [step.getAttribute("data-run") + " run", "step " + index,
                 "t=" + step.getAttribute("data-time") + " s", step.getAttribute("data-actor"),
                 "(" + step.getAttribute("data-kind") + ")", step.getAttribute("data-label")];
    if (step.getAttribute("data-departure")) { parts.push("| after decision " + step.getAttribute("data-departure") + ", which departed from the default order"); }
    if (step.getAttribute("data-raced")) { parts.push("| one of the operations that raced"); }
    detail.textContent = parts.join("  ");
  }
  for (var j = 0; j < steps.length; j++) {
    steps[j].addEventListener("click", function (event) { show(event.currentTarget); });
  }
  if (steps.length) { document.body.appendChild(detail); }
  document.body.setAttribute("data-report-ready", "1");
  document.body.setAttribute("data-steps-rendered", String(steps.length));
}());
"""
