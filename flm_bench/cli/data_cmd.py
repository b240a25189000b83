"""``flm-bench data info|verify|prepare``: what a dataset is, whether its files are intact."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from flm_bench.cli.common import err, out, plugins, print_json
from flm_bench.cli.examples import epilog
from flm_bench.cli.options import DataDir, Mirror
from flm_bench.errors import ConfigError

if TYPE_CHECKING:
    from flm_bench.data.sources import SourceFile
    from flm_bench.data.table import InteractionData

app = typer.Typer(
    no_args_is_help=True, help="Inspect, verify and prepare datasets.", epilog=epilog("data"), rich_markup_mode=None
)


def use_locations(data_dir: Path | None, mirror: str | None = None) -> None:
    """Apply ``--data-dir`` / ``--mirror`` for this process (the loaders read the environment).

    :raises ConfigError: ``data_dir`` is not a folder, or is the folder above a mirror's copy.
    """
    from flm_bench.data.sources import DATA_DIR_ENV, MIRROR_ENV

    if data_dir is not None:
        _check_data_dir(data_dir)
        os.environ[DATA_DIR_ENV] = str(data_dir.absolute())  # not resolve(): keep the path the user gave
    if mirror is not None:
        os.environ[MIRROR_ENV] = mirror


def _check_data_dir(data_dir: Path) -> None:
    """Refuse a ``--data-dir`` that cannot be a data folder, naming the fix."""
    from flm_bench.data.sources import MANIFEST

    if not data_dir.is_dir():
        what = "is not a folder" if data_dir.exists() else "does not exist"
        raise ConfigError(f"--data-dir {data_dir} {what}: pass the folder that holds the dataset files")
    inner = data_dir / "datasets"
    if (inner / MANIFEST).is_file() and not (data_dir / MANIFEST).is_file():
        raise ConfigError(
            f"--data-dir {data_dir} holds a mirror in datasets/, not the dataset files: pass --data-dir {inner}"
        )


def _download_bar():
    """A context manager showing downloads on stderr."""
    from contextlib import contextmanager

    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    from flm_bench.data.sources import download_progress

    @contextmanager
    def bar():
        with Progress(
            TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(), console=err, transient=True
        ) as progress:
            tasks: dict[str, Any] = {}

            def update(what: str, done: int, total: int) -> None:
                if what not in tasks:
                    tasks[what] = progress.add_task(f"downloading {what}", total=total or None)
                progress.update(tasks[what], completed=done, total=total or None)

            token = download_progress.set(update)
            try:
                yield
            finally:
                download_progress.reset(token)

    return bar()


def dataset_info(name: str) -> dict[str, Any]:
    """Everything ``data info`` shows about one dataset (loads it). A dataset with files the user
    brings is described without its counts while they are not in place (``load_error`` says why)."""
    from flm_bench.data.sources import DataLocation
    from flm_bench.errors import DataError

    entry = plugins().datasets.entry(name)
    spec = entry.spec
    data_dir = DataLocation.from_env().data_dir
    facts: dict[str, Any] = {
        "name": spec.name,
        "domain": spec.domain,
        "plugin": entry.plugin,
        "synthetic": spec.synthetic,
    }
    try:
        with _download_bar():
            facts.update(_loaded_facts(spec.load_data()))
    except DataError as exc:
        if not any(f.brought for f in spec.files):
            raise
        facts["load_error"] = str(exc)
    facts.update(license=spec.license, citation=spec.citation, source=spec.source, files=_files(spec.files, data_dir))
    if "fingerprint" in facts:  # keep the order of the keys people read
        facts["fingerprint"] = facts.pop("fingerprint")
    facts["description"] = spec.description
    return facts


def _loaded_facts(data: InteractionData) -> dict[str, Any]:
    """The counts, order and side data of a loaded dataset."""
    side = {k: int(len(v)) for k, v in data.side.items() if k not in ("item_attr_indptr",)}
    order = data.column("order")
    return {
        "users": data.n_users,
        "items": data.n_items,
        "interactions": data.n_interactions,
        "timestamped": data.timestamped,
        "ordered": data.ordered,
        "order_range": [int(order.min()), int(order.max())],
        "columns": data.table.column_names,
        "side_data": side,
        "text_coverage": _text_coverage(data),
        "fingerprint": data.fingerprint,
    }


def _files(files: tuple[SourceFile, ...], data_dir: Path | None) -> list[dict[str, Any]]:
    """The declared files; those the user brings with where they go and where to get them."""
    from flm_bench.data.sources import expected_path

    rows = []
    for f in files:
        row: dict[str, Any] = {"path": f.path, "sha256": f.sha256, "size": f.size, "url": f.url}
        if f.brought:
            row.update(obtain=f.obtain, put_at=expected_path(f, data_dir), columns=list(f.columns), rows=f.rows)
        rows.append(row)
    return rows


def _file_line(f: dict[str, Any]) -> str:
    """One declared file, for the ``data info`` table."""
    size = "size unknown" if f["size"] is None else f"{f['size']:,} bytes"
    digest = "sha256 unknown" if f["sha256"] is None else f"sha256 {f['sha256'][:12]}…"
    if "obtain" not in f:
        return f"{f['path']} ({size}, {digest})"
    rows = "" if f["rows"] is None else f"{f['rows']:,} rows, "
    return f"{f['path']}: you bring it from {f['obtain']}; put it at {f['put_at']} ({rows}{size}, {digest})"


def _text_coverage(data: InteractionData) -> dict[str, int]:
    """How many items carry text (``item_text`` side data: titles, categories...), of how many."""
    texts = data.side.get("item_text")
    with_text = 0 if texts is None else int(sum(bool(str(t).strip()) for t in texts))
    return {"items_with_text": with_text, "items": data.n_items}


@app.command("info", epilog=epilog("data info"))
def info(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Dataset name (see `flm-bench list datasets`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    data_dir: DataDir = None,
    mirror: Mirror = None,
) -> None:
    """Domain, counts, order/time, side data, license, citation and source files of a dataset."""
    use_locations(data_dir, mirror)
    facts = dataset_info(name)
    if as_json:
        print_json(facts)
        return
    table = Table(title=name, show_header=False)
    for key, value in facts.items():
        if key == "files":
            value = "\n".join(_file_line(f) for f in value)
        elif isinstance(value, dict):
            value = ", ".join(f"{k}: {v:,}" for k, v in value.items()) or "none"
        elif isinstance(value, int) and not isinstance(value, bool):
            value = f"{value:,}"
        table.add_row(key, str(value))
    out.print(table)


@app.command("verify", epilog=epilog("data verify"))
def verify(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="Dataset name; default: every dataset with files.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Check every file present (data folder or cache) against its declared header, rows, size and sha256;
    download nothing. A missing file the user brings says where it goes and where to get it."""
    from flm_bench.data.sources import DataLocation, bring_hint, local_copy
    from flm_bench.errors import DataError

    use_locations(data_dir)
    registry = plugins().datasets
    specs = [registry.get(name)] if name else [e.spec for e in registry if e.spec.files]
    rows, bad = [], 0
    for spec in specs:
        for f in spec.files:
            try:
                path = local_copy(f, DataLocation.from_env().data_dir)
                hint = bring_hint(f, DataLocation.from_env().data_dir) if f.brought else ""
                status, detail = ("ok", str(path)) if path else ("missing", hint)
            except DataError as exc:
                status, detail, bad = "mismatch", str(exc), bad + 1
            rows.append({"dataset": spec.name, "file": f.path, "status": status, "detail": detail})
    if as_json:
        print_json(rows)
    else:
        table = Table(title="files")
        for col in ("dataset", "file", "status", "detail"):
            table.add_column(col)
        for r in rows:
            style = {"ok": "green", "missing": "yellow"}.get(r["status"], "red")
            table.add_row(r["dataset"], r["file"], Text(r["status"], style=style), r["detail"])
        out.print(table)
    if bad:
        raise typer.Exit(1)


@app.command("prepare", epilog=epilog("data prepare"))
def prepare(
    names: Annotated[list[str], typer.Argument(metavar="NAME", help="Dataset name(s).")],
    data_dir: DataDir = None,
    mirror: Mirror = None,
) -> None:
    """Fetch, verify, parse and cache datasets ahead of a run."""
    import time

    use_locations(data_dir, mirror)
    registry = plugins().datasets
    specs = [registry.get(n) for n in names]
    for spec in specs:
        start = time.perf_counter()
        with _download_bar():
            data = spec.load_data()
        out.print(
            f"{spec.name}: {data.n_users:,} users, {data.n_items:,} items, "
            f"{data.n_interactions:,} interactions ready in {time.perf_counter() - start:.1f} s"
        )
