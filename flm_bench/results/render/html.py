"""``index.html``: a self-contained page (inline CSS, JS and SVG; nothing is fetched).

Strings from records are escaped as HTML text and attributes; the page's Content-Security-Policy
only runs its own script (by hash). The plots and the embedded JSON come ready-made from the
package entry, so this module never renders another format itself.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from importlib import resources
from typing import Any

from flm_bench.results.records import CONTROL
from flm_bench.results.render.base import (
    FORMAT,
    JSON_FILE,
    MARKER,
    REFERENCES_FILE,
    SIG_MARK,
    Board,
    domain_summary,
    fmt_gain,
    fmt_num,
    fmt_p,
    fmt_params,
    fmt_seconds,
    fmt_signed,
    fmt_stat,
    metric_key,
)
from flm_bench.results.stats import ALPHA
from flm_bench.results.summary import json_number, json_p


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _template(name: str) -> str:
    return resources.files("flm_bench").joinpath("templates", "board", name).read_text(encoding="utf-8")


def _th(label: str, numeric: bool) -> str:
    return (f'<th scope="col" class="{"n" if numeric else "t"}" data-type="{"num" if numeric else "text"}" '
            f'data-label="{_e(label)}">{_e(label)}</th>')


def _td(text: str, value: float | None = None, cls: str = "") -> str:
    attrs = f' data-v="{value!r}"' if value is not None else ""
    attrs += f' class="{cls}"' if cls else ""
    return f"<td{attrs}>{text}</td>"


def _dataset_cell(name: str, synthetic: bool) -> str:
    badge = ' <span class="badge synthetic" title="generated data, not real interactions">SYNTHETIC</span>'
    return _e(name) + (badge if synthetic else "")


def _board_table(board: Board) -> str:
    hl = board.headline
    head = [_th(h, False) for h in ("domain", "dataset", "split", "suite", "model", "strategy", "corpus")]
    head += [_th("seeds", True)] + [_th(m, True) for m in board.metrics]
    head += [_th(f"gain {hl}" if hl else "gain", True), _th("p (Holm)", True), _th("pretrain s", True),
             _th("adapt s", True), _th("trainable params", True)]
    body = []
    for r in board.rows:
        n = len(r.seeds)
        cells = [
            _td(_e(r.domain), cls="t"), _td(_dataset_cell(r.dataset, r.synthetic), cls="t"),
            f'<td class="t" title="split fingerprint {_e(r.split_fingerprint)}">{_e(r.split_protocol)}</td>',
            _td(_e(r.suite), cls="t"),
            f'<td class="t" title="plugin: {_e(r.model_plugin)}">{_e(r.model)}'
            + ("" if r.exclude_history else " (history ranked)") + "</td>",
            f'<td class="t" title="plugin: {_e(r.strategy_plugin)}">{_e(r.strategy)}</td>',
            _td(_e(r.corpus) if r.corpus else "—", cls="t"),
            _td(str(n), n),
        ]
        for m in board.metrics:
            cells.append(_td(_e(fmt_stat(r.metrics[m], n)), json_number(r.metrics[m].mean)) if m in r.metrics else _td(""))
        if hl in r.gain:
            g = r.gain[hl].mean
            cls = ("pos sig" if g > 0 else "neg sig") if r.significant(hl) else ""
            cells.append(_td(_e(fmt_gain(r, hl)), json_number(g), cls))
            cells.append(_td(_e(fmt_p(r, hl)), json_p(r.p_value[hl])) if hl in r.p_value else _td(""))
        else:
            cells += [_td(""), _td("")]
        cells += [_td(fmt_seconds(r.pretrain_seconds), json_number(r.pretrain_seconds, 3)),
                  _td(fmt_seconds(r.adapt_seconds), json_number(r.adapt_seconds, 3)),
                  _td(fmt_params(r.trainable_parameters), r.trainable_parameters)]
        kind = "control" if r.strategy == CONTROL else "treated"
        body.append(f'<tr class="{kind}" data-kind="measured" data-domain="{_e(r.domain)}">' + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table class="board" id="board"><thead><tr>' + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table></div>")


def _summary_table(board: Board) -> str:
    hl = board.headline
    head = [_th("domain", False), _th("datasets", True), _th("gains tested", True), _th(f"{SIG_MARK} better", True),
            _th(f"{SIG_MARK} worse", True), _th("mean gain", True), _th("best gain", True)]
    body = []
    for d in board.domains:
        s = domain_summary(board, d)
        badge = ' <span class="badge synthetic">SYNTHETIC</span>' if s["synthetic"] else ""
        cells = [_td(_e(d) + badge, cls="t"), _td(str(s["datasets"]), s["datasets"]), _td(str(s["gains"]), s["gains"]),
                 _td(str(s["significant_positive"]), s["significant_positive"]),
                 _td(str(s["significant_negative"]), s["significant_negative"])]
        for key in ("mean_gain", "best_gain"):
            cells.append(_td(fmt_signed(s[key]), s[key]))
        body.append(f'<tr data-kind="domain" data-domain="{_e(d)}">' + "".join(cells) + "</tr>")
    caption = f"<caption>transfer gain in {_e(hl)} over scratch</caption>" if hl else ""
    return ('<div class="scroll"><table class="board" id="domains">' + caption + "<thead><tr>" + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table></div>")


def _references_table(board: Board) -> str:
    refs = board.references
    metrics = sorted({m for ref in refs for m in ref.metrics}, key=metric_key)
    head = [_th(h, False) for h in ("domain", "dataset", "model", "strategy")] + [_th(m, True) for m in metrics]
    head += [_th("protocol", False), _th("citation", False)]
    body = []
    for ref in refs:
        domain = board.reference_domain(ref) or ""
        cells = [_td(_e(domain or "—"), cls="t"), _td(_e(ref.dataset), cls="t"),
                 _td(_e(ref.model) + ' <span class="badge external">EXTERNAL</span>', cls="t"),
                 _td(_e(ref.strategy or "—"), cls="t")]
        cells += [_td(fmt_num(ref.metrics[m]), json_number(ref.metrics[m])) if m in ref.metrics else _td("") for m in metrics]
        notes = f" — {_e(ref.notes)}" if ref.notes else ""
        cells += [_td(_e(ref.protocol), cls="t wrap"), _td(_e(ref.citation) + notes, cls="t wrap")]
        body.append(f'<tr data-kind="external" data-domain="{_e(domain)}">' + "".join(cells) + "</tr>")
    return ('<div class="scroll"><table class="board" id="references"><thead><tr>' + "".join(head)
            + "</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table></div>")


def page_html(board: Board, data: str, gains: dict[str, str], cost: str | None) -> str:
    """The page: ``data`` is the board as script-safe JSON, ``gains`` the gain plot (SVG) per domain."""
    hl = board.headline
    parts = ['<header><h1>flm-bench leaderboard</h1>',
             ('<p class="lede">Does pretraining a recommender on broad data, then adapting it to a target domain, '
              'beat training on that domain alone — by how much, at what cost, and where?</p>')]
    if any(r.synthetic for r in board.rows):
        parts.append('<p class="banner"><strong>SYNTHETIC data:</strong> rows marked '
                     '<span class="badge synthetic">SYNTHETIC</span> come from generated data, not real '
                     'interactions; their numbers say nothing about real recommenders.</p>')
    latest = f" · latest record created {_e(board.latest)}" if board.latest else ""
    parts.append(f'<p class="meta">{board.n_records} records · {len(board.rows)} rows · '
                 f'{len(board.references)} external results · headline metric {_e(hl or "—")}{latest}</p></header>')
    options = "".join(f'<option value="{_e(d)}">{_e(d)}</option>' for d in board.domains)
    parts.append('<nav class="controls"><label>Filter <input id="filter" type="search" '
                 'placeholder="dataset, model, strategy, corpus…" autocomplete="off"></label>'
                 f'<label>Domain <select id="domain"><option value="">all domains</option>{options}</select></label>'
                 '<span id="count" aria-live="polite"></span></nav>')
    parts.append('<section id="summary"><h2>Transfer by domain</h2>' + _summary_table(board) + "</section>")
    parts.append('<section id="results"><h2>Results</h2>' + _board_table(board)
                 + '<p class="note">Metrics: mean ± std over seeds, full ranking over the whole catalogue. '
                 + (f"Gain: {_e(hl)}(strategy) − {_e(hl)}(scratch) on the same split and seeds, "
                    f"± std of the per-seed gains. p: paired t-test over users, Holm–Bonferroni-adjusted across "
                    f"all {board.n_gains} gains (rows × metrics) on the leaderboard; "
                    f"{SIG_MARK} p &lt; {ALPHA}. " if hl else "")
                 + "Cost: mean seconds to pretrain and to adapt, trainable parameters. Click a header to sort.</p>"
                 "</section>")
    parts.append('<section id="external"><h2>External (published) results</h2>')
    if board.references:
        parts.append('<p class="note">Published numbers, <strong>not measured by flm-bench</strong> and never part '
                     "of the statistics above; their protocols may differ from ours.</p>" + _references_table(board))
    else:
        parts.append(f'<p class="note">None (add them to <code>{REFERENCES_FILE}</code> beside the records '
                     "folder).</p>")
    parts.append("</section>")
    parts.append(f'<section id="plots"><h2>Transfer gain per domain ({_e(hl or "—")})</h2><div class="plots">')
    for d, svg in gains.items():
        parts.append(f'<figure class="plot gain" data-plot-domain="{_e(d)}">{svg}<figcaption>{_e(d)}: gain over '
                         f"scratch, bars = mean, whiskers = std over seeds.</figcaption></figure>")
    if not gains:
        parts.append('<p class="note">No transfer gains yet (a gain needs a pretrained strategy and its scratch '
                     "control on the same split and seeds).</p>")
    parts.append(f'</div><h2>Quality vs cost ({_e(hl or "—")})</h2><div class="plots">')
    parts.append(f'<figure class="plot cost">{cost}<figcaption>Each point is a row of the results table; x = mean '
                 "pretrain + adapt seconds, y = mean ± std over seeds.</figcaption></figure>" if cost
                 else '<p class="note">No measured rows yet.</p>')
    parts.append("</div></section>")
    parts.append(f'<footer>Rendered from {board.n_records} records by <code>flm-bench leaderboard render</code> '
                 f"(format {FORMAT}); the same rows are in <code>{JSON_FILE}</code> "
                 "and embedded below. "
                 "<code>flm-bench leaderboard render --check</code> tells whether this page is up to date.</footer>")
    script = _template("board.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    values = {"MARKER": MARKER.replace("--", "- -"), "SCRIPT_HASH": f"sha256-{digest}", "CSS": _template("board.css"),
              "BODY": "\n".join(parts), "DATA": data, "SCRIPT": script}
    return re.sub(r"@@([A-Z_]+)@@", lambda m: values[m.group(1)], _template("page.html"))
