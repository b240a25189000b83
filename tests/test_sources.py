"""Getting a dataset's files onto the machine: data folder, download cache, mirror, original URL.

Downloads go through the real pooch/requests path against a local HTTP server that serves a
copy (in ``tmp_path``) of a few folders of ``shared/datasets`` laid out as the mirror. Every
test that may download uses its own empty cache. Nothing here reaches the internet: original
URLs are pointed at the local server or at a closed port.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import http.server
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flm_bench.data.sources import (
    DATA_DIR_ENV,
    MIRROR_ENV,
    ChecksumError,
    DataLocation,
    SourceFile,
    fetch,
    open_text,
    sha256_of,
)
from flm_bench.errors import DataError
from flm_bench_plugins.realdata import source_files

ML = "media/movielens-100k"
U_DATA, U_ITEM = f"{ML}/u.data.gz", f"{ML}/u.item"


# --------------------------------------------------------------------------------------- helpers


@dataclasses.dataclass
class Mirror:
    root: Path  # the folder served (a copy, safe to corrupt)
    url: str
    requests: list[str]  # request paths, in order


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy files only (the shared tree is read-only; the copy must stay writable)."""
    for path in sorted(src.rglob("*")):
        if path.is_file():
            target = dst / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def offline(file: SourceFile, base: str | None = None) -> SourceFile:
    """``file`` with its original URL moved to ``base`` (default: a closed local port), same name."""
    base = base or f"http://127.0.0.1:{_closed_port()}/x"
    return dataclasses.replace(file, url=f"{base.rstrip('/')}/{file.url.rsplit('/', 1)[-1]}")


def cache_files(cache: Path) -> list[Path]:
    """Every file (temporary ones included) anywhere under the cache folder."""
    return sorted(p for p in cache.rglob("*") if not p.is_dir()) if cache.exists() else []


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test's own."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("FLM_BENCH_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def serve(tmp_path: Path, shared_datasets: Path) -> Iterator[Callable[..., Mirror]]:
    """Factory: ``serve(*folders)`` copies those folders of shared/datasets and serves the copy."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(*folders: str) -> Mirror:
        root = tmp_path / f"mirror{len(servers)}"
        root.mkdir()
        for folder in folders:
            _copy_tree(shared_datasets / folder, root / folder)
        seen: list[str] = []

        class Handler(http.server.SimpleHTTPRequestHandler):
            def send_head(self):
                seen.append(self.path)
                return super().send_head()

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        servers.append(server)
        return Mirror(root, f"http://127.0.0.1:{server.server_address[1]}", seen)

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mirror(serve, monkeypatch: pytest.MonkeyPatch) -> Mirror:
    """The movielens-100k folder served as the mirror, and ``FLM_BENCH_MIRROR`` pointing at it."""
    m = serve(ML)
    monkeypatch.setenv(MIRROR_ENV, m.url)
    return m


# ------------------------------------------------------------------------------------- downloads


def test_fetch_downloads_from_mirror_into_cache_once(mirror: Mirror, cache: Path) -> None:
    files = [offline(f) for f in source_files(U_DATA, U_ITEM)]
    progress: list[tuple[str, int, int]] = []
    paths = [fetch(f, progress=lambda *a: progress.append(a)) for f in files]
    for f, path in zip(files, paths):
        assert path == cache / "downloads" / f.path
        assert path.stat().st_size == f.size and sha256_of(path) == f.sha256
    assert mirror.requests == [f"/{U_DATA}", f"/{U_ITEM}"]
    assert cache_files(cache) == sorted(paths)  # no temporary files left beside them
    # the progress callback saw each whole file
    last = {what: (done, total) for what, done, total in progress}
    assert last == {f"file {f.path!r}": (f.size, f.size) for f in files}

    again = [fetch(f) for f in files]
    assert again == paths
    assert mirror.requests == [f"/{U_DATA}", f"/{U_ITEM}"]  # served from the cache


def test_cached_download_needs_no_mirror(mirror: Mirror, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (file,) = [offline(f) for f in source_files(U_ITEM)]
    path = fetch(file)
    monkeypatch.delenv(MIRROR_ENV)
    assert fetch(file) == path
    assert len(mirror.requests) == 1


def test_fetch_from_original_url_stores_original_bytes(serve, shared_datasets: Path, cache: Path) -> None:
    """No data folder, no mirror: the original (uncompressed) bytes come from the original URL."""
    (stored,) = source_files(U_DATA)
    origin = serve()
    (origin.root / "orig").mkdir()
    with gzip.open(shared_datasets / U_DATA) as src:
        (origin.root / "orig" / "u.data").write_bytes(src.read())
    file = offline(stored, f"{origin.url}/orig")
    assert file.original_path == f"{ML}/u.data"

    path = fetch(file)
    assert path == cache / "downloads" / file.original_path
    assert sha256_of(path) == file.url_sha256 and path.stat().st_size == file.url_size
    assert origin.requests == ["/orig/u.data"]
    assert fetch(file) == path and len(origin.requests) == 1


@pytest.mark.parametrize("damage", [flip_byte, truncate], ids=["changed-byte", "truncated"])
@pytest.mark.parametrize("path", [U_DATA, U_ITEM])
def test_corrupted_download_raises_and_leaves_nothing(mirror: Mirror, cache: Path, damage, path: str) -> None:
    (file,) = [offline(f) for f in source_files(path)]
    damage(mirror.root / path)
    actual = sha256_of(mirror.root / path)
    with pytest.raises(ChecksumError) as info:
        fetch(file)
    message = str(info.value)
    assert "\n" not in message
    assert path in message and file.sha256 in message and actual in message
    assert mirror.requests == [f"/{path}"]  # no retry, no fall-through to the original URL
    assert cache_files(cache) == []
    # still nothing after a second attempt (no half-written file is picked up)
    with pytest.raises(ChecksumError):
        fetch(file)
    assert cache_files(cache) == []


# ------------------------------------------------------------------------------ resolution order


@pytest.mark.parametrize("how", ["env", "argument"])
def test_data_folder_wins_over_mirror(
    mirror: Mirror, cache: Path, shared_datasets: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    files = source_files(U_DATA, U_ITEM, f"{ML}/u.user")
    if how == "env":
        monkeypatch.setenv(DATA_DIR_ENV, str(shared_datasets))
        paths = [fetch(f) for f in files]
    else:
        paths = [fetch(f, DataLocation(data_dir=shared_datasets)) for f in files]
    assert paths == [shared_datasets / f.path for f in files]  # read in place, not copied
    assert mirror.requests == []
    assert cache_files(cache) == []


@pytest.mark.parametrize("damage", [flip_byte, truncate], ids=["changed-byte", "truncated"])
def test_corrupted_file_in_data_folder_raises(
    mirror: Mirror, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage
) -> None:
    (file,) = [offline(f) for f in source_files(U_ITEM)]
    data = tmp_path / "data"
    _copy_tree(mirror.root / ML, data / ML)
    damage(data / U_ITEM)
    monkeypatch.setenv(DATA_DIR_ENV, str(data))
    with pytest.raises(ChecksumError) as info:
        fetch(file)
    message = str(info.value)
    assert "\n" not in message and U_ITEM in message and str(data / U_ITEM) in message
    if damage is truncate:
        assert str(file.size) in message and str(file.size // 2) in message
    else:
        assert file.sha256 in message and sha256_of(data / U_ITEM) in message
    assert mirror.requests == []  # did not silently fall through to the mirror
    assert cache_files(cache) == []


def test_original_bytes_in_data_folder_are_accepted(
    mirror: Mirror, cache: Path, tmp_path: Path, shared_datasets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (file,) = [offline(f) for f in source_files(U_DATA)]
    data = tmp_path / "data"
    original = data / file.original_path
    original.parent.mkdir(parents=True)
    with gzip.open(shared_datasets / U_DATA) as src:
        original.write_bytes(src.read())
    monkeypatch.setenv(DATA_DIR_ENV, str(data))

    assert fetch(file) == original
    assert mirror.requests == [] and cache_files(cache) == []
    with open_text(original) as plain, open_text(shared_datasets / U_DATA) as gz:
        assert plain.read() == gz.read()

    flip_byte(original)  # a damaged original is refused too, naming the original's digest
    with pytest.raises(ChecksumError, match=file.url_sha256):
        fetch(file)
    assert mirror.requests == []


def test_unreachable_everywhere_says_how_to_provide_the_file(cache: Path) -> None:
    (file,) = [offline(f) for f in source_files(U_ITEM)]
    with pytest.raises(DataError) as info:
        fetch(file)
    assert not isinstance(info.value, ChecksumError)
    message = str(info.value)
    assert "\n" not in message
    assert U_ITEM in message and file.url in message
    assert DATA_DIR_ENV in message and "--data-dir" in message and MIRROR_ENV in message
    assert cache_files(cache) == []


def test_a_file_the_user_brings_is_never_downloaded(mirror: Mirror, cache: Path, tmp_path: Path) -> None:
    """Even when a mirror and a URL would serve it: the error says where to put it and where to get it."""
    (item,) = source_files(U_ITEM)
    brought = dataclasses.replace(item, url=f"{mirror.url}/{U_ITEM}", obtain="https://doi.org/10.0/example")
    with pytest.raises(DataError) as info:
        fetch(brought)
    assert str(info.value) == (
        f"file '{U_ITEM}' is missing: put u.item at <data folder>/{U_ITEM} "
        f"(get it from https://doi.org/10.0/example) and pass --data-dir or set {DATA_DIR_ENV}"
    )
    assert mirror.requests == [] and cache_files(cache) == []
    data = tmp_path / "data"
    _copy_tree(mirror.root, data)
    assert fetch(brought, DataLocation(data_dir=data)) == data / U_ITEM


def test_declared_header_and_rows_are_checked_before_the_digest(tmp_path: Path) -> None:
    path = tmp_path / "data" / "x" / "t.csv"
    path.parent.mkdir(parents=True)
    path.write_text("a,b\n1,2\n3,4\n")
    declared = SourceFile("x/t.csv", None, None, obtain="https://doi.org/10.0/x", columns=("a", "b"), rows=2)
    location = DataLocation(data_dir=tmp_path / "data")
    assert fetch(declared, location) == path
    for wrong, problem in (
        ({"columns": ("a", "c")}, "has columns ['a', 'b'], expected ['a', 'c']"),
        ({"rows": 3, "sha256": "0" * 64}, "has 2 rows after its header, expected 3"),
        ({"sha256": "0" * 64}, f"has sha256 {sha256_of(path)}, expected {'0' * 64}"),
    ):
        with pytest.raises(ChecksumError) as info:
            fetch(dataclasses.replace(declared, **wrong), location)
        assert str(info.value) == f"file 'x/t.csv': {path} {problem}; the published file: https://doi.org/10.0/x"


def test_missing_on_mirror_and_unreachable_original(mirror: Mirror, cache: Path) -> None:
    (file,) = [offline(f) for f in source_files("ecommerce/amazon2014-s3rec/Beauty.txt.gz")]
    with pytest.raises(DataError) as info:
        fetch(file)
    assert not isinstance(info.value, ChecksumError)
    message = str(info.value)
    assert file.path in message and "404" in message and file.url in message and DATA_DIR_ENV in message
    assert mirror.requests == [f"/{file.path}"]
    assert cache_files(cache) == []


@pytest.mark.parametrize("bad", ["/work/shared/datasets", "localhost:8000", "htp://mirror.invalid"])
def test_malformed_mirror_url_is_not_a_checksum_error(serve, cache: Path, bad: str) -> None:
    """requests' URL errors are ValueErrors, like pooch's digest mismatch; they must not be reported
    as one, nor stop the fall-through to the original URL."""
    (stored,) = source_files(U_ITEM)
    with pytest.raises(DataError) as info:
        fetch(offline(stored), DataLocation(mirror=bad))
    assert not isinstance(info.value, ChecksumError)
    assert bad in str(info.value) and "sha256" not in str(info.value)
    assert cache_files(cache) == []

    origin = serve(ML)
    path = fetch(offline(stored, f"{origin.url}/{ML}"), DataLocation(mirror=bad))
    assert path == cache / "downloads" / U_ITEM and origin.requests == [f"/{U_ITEM}"]


# -------------------------------------------------------------------------------------- open_text


def test_open_text_reads_gzip_and_plain_alike(tmp_path: Path, shared_datasets: Path) -> None:
    text = "user\titem\tstamp\n1\t2\t3\nü\tß\t€\n"
    plain, packed = tmp_path / "a.txt", tmp_path / "b.txt"  # same name pattern: decided by magic bytes
    plain.write_text(text, encoding="utf-8")
    packed.write_bytes(gzip.compress(text.encode("utf-8")))
    for path in (plain, packed):
        with open_text(path) as f:
            assert f.read() == text
    with open_text(shared_datasets / U_DATA) as f:
        first = f.readline().split("\t")
    assert len(first) == 4 and all(x.strip().isdigit() for x in first)
    with open_text(shared_datasets / U_ITEM, encoding="latin-1") as f:
        assert f.readline().startswith("1|Toy Story (1995)|")


# ------------------------------------------------------------------------------------ end to end


def test_movielens_100k_loads_purely_through_the_mirror(mirror: Mirror, cache: Path) -> None:
    """Empty cache, no data folder: every declared file comes from the mirror, verified, parsed."""
    from flm_bench.plugins import load_plugins

    datasets = load_plugins().datasets
    assert "movielens-100k" in datasets, "plugins/media.py registers no movielens-100k"
    spec = datasets.get("movielens-100k")
    data = spec.load_data()
    assert (data.n_users, data.n_items, data.n_interactions) == (943, 1682, 100_000)
    assert data.domain == "media"
    assert sorted(mirror.requests) == sorted(f"/{f.path}" for f in spec.files)
    assert {p for p in cache_files(cache / "downloads")} == {cache / "downloads" / f.path for f in spec.files}

    again = spec.load_data()  # the parsed table and the downloads are cached: no more requests
    assert again.n_interactions == 100_000 and len(mirror.requests) == len(spec.files)
