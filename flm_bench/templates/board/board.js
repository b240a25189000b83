(function () {
  "use strict";
  // Sorting, filtering and the column chooser of the server-rendered tables; the state lives in the
  // URL (?filter=&domain=&sort=&desc=&cols=). Nothing here builds markup from data: every string
  // from a record is already escaped in the HTML and is only read as text here.
  var data = JSON.parse(document.getElementById("leaderboard-data").textContent);
  var search = document.getElementById("filter");
  var domainSelect = document.getElementById("domain");
  var count = document.getElementById("count");
  var board = document.getElementById("board");
  var chooser = Array.prototype.slice.call(document.querySelectorAll(".columns input[data-col]"));
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.board"));
  var filtered = tables.filter(function (t) { return t.id === "board" || t.id === "references"; });
  var sorted = null;  // [label, descending] of the results table's sort

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }

  function value(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim().toLowerCase() : v;
  }

  function sortBy(table, th, descending) {
    var index = th.cellIndex;
    var numeric = th.getAttribute("data-type") === "num";
    var direction = descending === undefined
      ? (th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending")
      : (descending ? "descending" : "ascending");
    each(table.tHead.rows[0].cells, function (other) { other.setAttribute("aria-sort", "none"); });
    th.setAttribute("aria-sort", direction);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, index), y = value(b, index), cmp;
      if (numeric) {
        var fx = x === "" ? NaN : parseFloat(x), fy = y === "" ? NaN : parseFloat(y);
        if (isNaN(fx) || isNaN(fy)) {  // empty cells go last in both directions
          cmp = isNaN(fx) === isNaN(fy) ? 0 : (isNaN(fx) ? 1 : -1);
          return cmp !== 0 ? cmp : Number(a.getAttribute("data-i")) - Number(b.getAttribute("data-i"));
        }
        cmp = fx - fy;
      } else {
        cmp = x < y ? -1 : (x > y ? 1 : 0);
      }
      if (direction === "descending") { cmp = -cmp; }
      return cmp !== 0 ? cmp : Number(a.getAttribute("data-i")) - Number(b.getAttribute("data-i"));
    });
    rows.forEach(function (row) { body.appendChild(row); });
    if (table === board) { sorted = [th.getAttribute("data-label"), direction === "descending"]; }
  }

  // A row's text: its cells' texts joined with spaces (so "movielens sasrec" never needs the two
  // to touch), and its domain.
  function rowText(row) {
    var parts = [row.getAttribute("data-domain") || ""];
    each(row.cells, function (cell) { parts.push(cell.textContent); });
    return parts.join(" ").toLowerCase();
  }

  function tokens() { return search.value.toLowerCase().split(/\s+/).filter(Boolean); }

  function showColumn(col, shown) {
    each(board.querySelectorAll('[data-col="' + col + '"]'), function (cell) { cell.hidden = !shown; });
  }

  function writeUrl() {
    var params = new URLSearchParams();
    if (tokens().length) { params.set("filter", search.value.trim().split(/\s+/).join(" ")); }
    if (domainSelect.value) { params.set("domain", domainSelect.value); }
    if (sorted) { params.set("sort", sorted[0]); if (sorted[1]) { params.set("desc", "1"); } }
    var cols = chooser.filter(function (box) { return box.checked; }).map(function (box) { return box.getAttribute("data-col"); });
    if (cols.length) { params.set("cols", cols.join(",")); }
    var query = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : "") + window.location.hash);
  }

  function apply() {
    var words = tokens();
    var domain = domainSelect.value;
    var shown = 0, total = 0;
    filtered.forEach(function (table) {
      each(table.tBodies[0].rows, function (row) {
        var text = rowText(row);
        var ok = (domain === "" || row.getAttribute("data-domain") === domain) &&
                 words.every(function (word) { return text.indexOf(word) !== -1; });
        row.hidden = !ok;
        if (table === board) { total += 1; if (ok) { shown += 1; } }
      });
    });
    each(document.querySelectorAll("[data-plot-domain]"), function (fig) {
      fig.hidden = domain !== "" && fig.getAttribute("data-plot-domain") !== domain;
    });
    count.textContent = shown + " of " + total + " measured rows shown";
  }

  function update() { apply(); writeUrl(); }

  tables.forEach(function (table) {
    each(table.tBodies[0].rows, function (row, i) { row.setAttribute("data-i", String(i)); });
    each(table.tHead.rows[0].cells, function (th) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      th.addEventListener("click", function () { sortBy(table, th); writeUrl(); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, th); writeUrl(); }
      });
    });
  });
  chooser.forEach(function (box) {
    box.addEventListener("change", function () { showColumn(box.getAttribute("data-col"), box.checked); writeUrl(); });
  });
  search.addEventListener("input", update);
  domainSelect.addEventListener("change", update);

  // The state a shared address carries (values are only compared with text and attributes).
  var params = new URLSearchParams(window.location.search);
  if (params.has("filter")) { search.value = params.get("filter"); }
  if (params.has("domain")) {
    each(domainSelect.options, function (option) {
      if (option.value === params.get("domain")) { domainSelect.value = option.value; }
    });
  }
  if (params.has("cols")) {
    var wanted = params.get("cols").split(",");
    chooser.forEach(function (box) {
      box.checked = wanted.indexOf(box.getAttribute("data-col")) !== -1;
      showColumn(box.getAttribute("data-col"), box.checked);
    });
  }
  if (params.has("sort")) {
    each(board.tHead.rows[0].cells, function (th) {
      if (th.getAttribute("data-label") === params.get("sort")) { sortBy(board, th, params.get("desc") === "1"); }
    });
  }
  apply();
  document.title = "flm-bench leaderboard (" + data.rows.length + " rows, " + data.references.length + " external)";
  document.body.setAttribute("data-ready", "1");
}());
