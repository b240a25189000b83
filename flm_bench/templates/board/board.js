(function () {
  "use strict";
  // Sorting and filtering of the server-rendered tables. Nothing here builds markup from data:
  // every string from a record is already escaped in the HTML and is only read as text here.
  var data = JSON.parse(document.getElementById("leaderboard-data").textContent);
  var search = document.getElementById("filter");
  var domainSelect = document.getElementById("domain");
  var count = document.getElementById("count");
  var tables = Array.prototype.slice.call(document.querySelectorAll("table.board"));

  function value(row, index) {
    var cell = row.cells[index];
    if (!cell) { return ""; }
    var v = cell.getAttribute("data-v");
    return v === null ? cell.textContent.trim().toLowerCase() : v;
  }

  function sortBy(table, th) {
    var index = th.cellIndex;
    var numeric = th.getAttribute("data-type") === "num";
    var direction = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (other) {
      other.setAttribute("aria-sort", "none");
    });
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
  }

  function applyFilter() {
    var query = search.value.trim().toLowerCase();
    var domain = domainSelect.value;
    var shown = 0, total = 0;
    tables.forEach(function (table) {
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var ok = (domain === "" || row.getAttribute("data-domain") === domain) &&
                 (query === "" || row.textContent.toLowerCase().indexOf(query) !== -1);
        row.hidden = !ok;
        if (table.id === "board") { total += 1; if (ok) { shown += 1; } }
      });
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-plot-domain]"), function (fig) {
      fig.hidden = domain !== "" && fig.getAttribute("data-plot-domain") !== domain;
    });
    count.textContent = shown + " of " + total + " measured rows shown";
  }

  tables.forEach(function (table) {
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row, i) { row.setAttribute("data-i", String(i)); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("aria-sort", "none");
      th.addEventListener("click", function () { sortBy(table, th); });
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, th); }
      });
    });
  });
  search.addEventListener("input", applyFilter);
  domainSelect.addEventListener("change", applyFilter);

  // Shareable state: index.html?filter=TEXT&domain=NAME&sort=COLUMN&desc=1 (values are only
  // compared with text and attributes, never inserted as markup).
  var params = new URLSearchParams(window.location.search);
  if (params.has("filter")) { search.value = params.get("filter"); }
  if (params.has("domain")) {
    Array.prototype.forEach.call(domainSelect.options, function (option) {
      if (option.value === params.get("domain")) { domainSelect.value = option.value; }
    });
  }
  if (params.has("sort")) {
    var board = document.getElementById("board");
    Array.prototype.forEach.call(board.tHead.rows[0].cells, function (th) {
      if (th.getAttribute("data-label") === params.get("sort")) {
        sortBy(board, th);
        if (params.get("desc") === "1") { sortBy(board, th); }
      }
    });
  }
  applyFilter();
  document.title = "flm-bench leaderboard (" + data.rows.length + " rows, " + data.references.length + " external)";
  document.body.setAttribute("data-ready", "1");
}());
