{# renders the report's inline script: filters (menus, search, matrix cells), column sorting, per-sample details built on expand, and "Download CSV" #}
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var table = document.getElementById("review-table");
  if (!table) { return; }
  var items = Array.prototype.slice.call(table.tBodies);
  var flagSel = document.getElementById("filter-flag");
  var groupSel = document.getElementById("filter-group");
  var search = document.getElementById("filter-text");
  var shown = document.getElementById("shown-count");
  var matrix = null;  // {group, author, pred} when a matrix cell filters the table
  var matrixChip = document.getElementById("matrix-filter");
  var text = new Map();
  items.forEach(function (tb) { text.set(tb, tb.rows[0].textContent.replace(/\s+/g, " ").toLowerCase()); });

  function applyFilters() {
    var flag = flagSel.value, group = groupSel.value, q = search.value.trim().toLowerCase(), n = 0;
    items.forEach(function (tb) {
      var ok = (!flag || tb.dataset.flag === flag) && (!group || tb.dataset.group === group) &&
        (!q || text.get(tb).indexOf(q) !== -1) &&
        (!matrix || (tb.dataset.group === matrix.group && tb.dataset.author === matrix.author &&
                     tb.dataset.pred === matrix.pred));
      tb.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n === items.length ? n + " rows" : n + " of " + items.length + " rows shown";
  }
  [flagSel, groupSel].forEach(function (el) { el.addEventListener("change", applyFilters); });
  search.addEventListener("input", applyFilters);

  // Details: built from the JSON block with text nodes only (author text never becomes markup).
  var details = null;
  function el(tag, cls, content) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (content !== undefined && content !== null) { e.textContent = content; }
    return e;
  }
  function add(parent) {
    for (var i = 1; i < arguments.length; i += 1) {
      var c = arguments[i];
      if (c !== null && c !== undefined) { parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c); }
    }
    return parent;
  }
  function num(x, digits) { return x === null || x === undefined ? "—" : x.toFixed(digits === undefined ? 3 : digits); }
  function count(x) { return x === null || x === undefined ? "n/a" : x.toLocaleString("en-US"); }
  function ranking(g, own) {
    var box = el("div", own ? "rank this" : "rank");
    var h = add(el("h4"), g.title);
    if (g.margin !== null) {
      add(h, " ", add(el("small"), "margin " + num(g.margin) + " ",
        g.confident ? el("span", "ok", "✓ confident") : "· not confident"));
    }
    add(box, h);
    if (g.bars.length) {
      var ol = el("ol", "bars");
      g.bars.forEach(function (b) {
        var li = el("li", [b.is_predicted ? "pred" : "", b.is_author ? "author" : "", b.beyond ? "beyond" : ""].join(" "));
        var label = el("span", "bl");
        if (b.beyond) { add(label, el("span", "rk", "#" + (b.rank === null ? "?" : b.rank)), " "); }
        add(label, b.label);
        if (b.is_author) {
          var a = el("abbr", null, "A");
          a.title = "the author's label";
          add(label, " ", a);
        }
        var fill = el("span", "bf");
        fill.style.width = b.width + "%";
        add(ol, add(li, label, add(el("span", "bt"), fill), el("span", "bs", num(b.score))));
      });
      add(box, ol);
    } else {
      add(box, el("p", "none", "No ranked labels (no prediction for this sample)."));
    }
    var e = g.evidence, p = add(el("p", "evidence"), "Author label: ");
    if (e.raw === null && e.label === null) {
      add(p, el("span", "none", "none found"));
    } else {
      add(p, el("q", null, e.raw));
      if (e.label && e.label !== e.raw) { add(p, " → ", el("b", null, e.label)); }
      if (e.source) { add(p, " from ", el("code", null, e.source)); }
      if (e.method) { add(p, " · " + e.method + (e.score === null ? "" : " (" + num(e.score, 0) + ")")); }
    }
    add(box, p);
    if (e.candidates.length) { add(box, el("p", "evidence", "Readings considered: " + e.candidates.join(", "))); }
    if (e.readings.length > 1) {
      var list = el("ul");
      e.readings.forEach(function (r) { add(list, el("li", null, r)); });
      add(box, add(el("details", "cands"), el("summary", null, e.readings.length + " fields name a label"), list));
    }
    if (e.unparsed) { add(box, el("p", "none", "Evidence (not JSON): " + e.unparsed)); }
    return box;
  }
  function stats(s) {
    var box = add(el("div", "stats"), el("h4", null, "Regions"));
    if (!s) { return add(box, el("p", "none", "No projection record (predictions.parquet is absent or lacks this sample).")); }
    var dl = el("dl");
    function row(term, value, cls) { add(dl, el("dt", null, term), el("dd", cls, value)); }
    if (s.n_regions !== null) {
      row("Coverage", s.coverage === null ? "—" : Math.round(100 * s.coverage) + "% of regions hit the model's tiles");
      row("Regions", count(s.n_regions) + " read, " + count(s.n_regions_hit) + " hit");
      row("Tokens", count(s.n_tokens) + " known to the model");
    }
    var skipped = s.skipped_by_reason && typeof s.skipped_by_reason === "object" ? Object.keys(s.skipped_by_reason).sort() : [];
    row("Skipped lines", count(s.n_skipped) + (skipped.length ? " (" + skipped.map(function (k) {
      return k.replace(/_/g, " ") + ": " + s.skipped_by_reason[k];
    }).join(", ") + ")" : ""));
    row("Status", s.status + (s.reason ? ": " + s.reason : ""));
    if (s.file) { row("File", s.file, "file"); }
    return add(box, dl);
  }
  function similar(d, group) {
    var box = el("div", "similar");
    var spaces = d.similar ? Object.keys(d.similar) : [];
    var space = spaces.indexOf(group) !== -1 ? group : spaces[0];
    var hits = space ? d.similar[space] : [];
    add(box, add(el("h4"), "Samples that look like this one",
      space ? add(el("small"), space === "all" ? " (whole vector)" : " (" + space.replace(/_/g, " ") + " dimensions)") : null));
    if (!hits.length) {
      return add(box, el("p", "none", "No similar samples: this workdir has no embeddings archive for this sample's model."));
    }
    var ol = el("ol", "neighbours");
    hits.forEach(function (h) {
      var groups = Object.keys(h.predicted);
      var called = groups.map(function (g) {
        var a = h.author[g], p = h.predicted[g];
        return (a === null || a === undefined ? "—" : a) + (a === p ? "" : " (model: " + p + ")");
      }).join(" · ");
      add(ol, add(el("li"), el("span", "cos", num(h.cosine)), " ", el("code", "sid", h.sample_id), " ",
        el("span", "src", h.source), add(el("span", "called"), "called ", el("b", null, called))));
    });
    return add(box, ol, el("p", "hint", "Cosine of region-set vectors; labels are the authors' (model's top label in brackets where it differs)."));
  }
  function fill(tb) {
    var cell = tb.rows[1].cells[1];
    if (cell.firstChild) { return; }
    if (details === null) { details = JSON.parse(document.getElementById("report-details").textContent); }
    var d = details[tb.dataset.sample], grid = el("div", "detail-grid");
    if (!d) { add(cell, el("p", "none", "No detail recorded for this sample.")); return; }
    d.rankings.forEach(function (g) { add(grid, ranking(g, g.group === tb.dataset.group)); });
    add(cell, add(grid, stats(d.stats), similar(d, tb.dataset.group)));
  }
  function setOpen(tb, open) {
    var btn = tb.querySelector("button.toggle");
    if (open) { fill(tb); }
    btn.setAttribute("aria-expanded", open ? "true" : "false");
    btn.textContent = open ? "▾" : "▸";
    tb.rows[1].hidden = !open;
  }
  table.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button.toggle");
    if (btn) { setOpen(btn.closest("tbody"), btn.getAttribute("aria-expanded") !== "true"); }
  });
  document.getElementById("expand-all").addEventListener("click", function () {
    items.forEach(function (tb) { if (!tb.hidden) { setOpen(tb, true); } });
  });
  document.getElementById("collapse-all").addEventListener("click", function () {
    items.forEach(function (tb) { setOpen(tb, false); });
  });

  // Sorting moves whole tbodies, so each detail row stays under its row; ties keep the current order.
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  function sortKey(tb, col, numeric) {
    var cell = tb.rows[0].cells[col];
    var v = cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
    if (numeric) { return v === "" ? null : parseFloat(v); }
    return v.trim().toLowerCase() || null;
  }
  function sortBy(th) {
    var col = heads.indexOf(th);
    var numeric = th.querySelector("button.sort").dataset.type === "num";
    var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
    var keyed = items.map(function (tb, i) { return { tb: tb, k: sortKey(tb, col, numeric), i: i }; });
    keyed.sort(function (a, b) {
      if (a.k === b.k) { return a.i - b.i; }
      if (a.k === null) { return 1; }  // empty cells last in either direction
      if (b.k === null) { return -1; }
      var c = numeric ? a.k - b.k : a.k.localeCompare(b.k, undefined, { numeric: true });
      return c === 0 ? a.i - b.i : dir * c;
    });
    var frag = document.createDocumentFragment();
    items = keyed.map(function (x) { frag.appendChild(x.tb); return x.tb; });
    table.appendChild(frag);
    heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
  }
  table.tHead.addEventListener("click", function (ev) {
    var btn = ev.target.closest("button.sort");
    if (btn) { sortBy(btn.closest("th")); }
  });

  Array.prototype.forEach.call(document.querySelectorAll("button[data-filter-flag]"), function (btn) {
    btn.addEventListener("click", function () {
      flagSel.value = btn.dataset.filterFlag;
      applyFilters();
      document.getElementById("review").scrollIntoView();
      flagSel.focus();
    });
  });

  // "show rows" of the label swaps card: every row of a swapped pair says "swapped with" beside its flag.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-filter-swaps]"), function (btn) {
    btn.addEventListener("click", function () {
      flagSel.value = "";
      search.value = "swapped with";
      applyFilters();
      document.getElementById("review").scrollIntoView();
    });
  });

  // Matrix cells: filter the table to one author label x predicted label of a group.
  function setMatrix(m) {
    matrix = m;
    matrixChip.hidden = !m;
    document.getElementById("matrix-filter-text").textContent = m ? "author " + m.author + " → model " + m.pred : "";
    Array.prototype.forEach.call(document.querySelectorAll("g.cell[aria-pressed]"), function (c) { c.removeAttribute("aria-pressed"); });
    applyFilters();
  }
  Array.prototype.forEach.call(document.querySelectorAll("svg.confusion g.cell[data-author]"), function (cell) {
    function choose() {
      flagSel.value = "";
      groupSel.value = cell.dataset.group;
      setMatrix({ group: cell.dataset.group, author: cell.dataset.author, pred: cell.dataset.pred });
      cell.setAttribute("aria-pressed", "true");
      document.getElementById("review").scrollIntoView();
    }
    cell.addEventListener("click", choose);
    cell.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); choose(); }
    });
  });
  document.getElementById("matrix-filter-clear").addEventListener("click", function () { setMatrix(null); });
  [flagSel, groupSel].forEach(function (sel) {
    sel.addEventListener("change", function () { if (matrix) { setMatrix(null); } });
  });

  // Download CSV of the rows shown, in their current order; the rows come already escaped against formulas
  // (annotator.report.csvsafe, the escaper of every CSV annotator writes), so this only quotes.
  var csvData = null;
  function csvCell(v) {
    if (v === null || v === undefined) { return ""; }
    var s = typeof v === "number" ? String(v) : typeof v === "boolean" ? (v ? "true" : "false") : String(v);
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  document.getElementById("download-csv").addEventListener("click", function () {
    if (csvData === null) { csvData = JSON.parse(document.getElementById("report-rows").textContent); }
    var lines = [csvData.columns.map(csvCell).join(",")];
    items.forEach(function (tb) {
      if (!tb.hidden) { lines.push(csvData.rows[tb.dataset.key].map(csvCell).join(",")); }
    });
    var blob = new Blob(["\ufeff" + lines.join("\r\n") + "\r\n"], { type: "text/csv;charset=utf-8" });
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = "annotator-review.csv";
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 0);
  });
  applyFilters();
}());
