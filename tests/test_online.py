"""The ``online`` strategy: a prequential (test-then-train) pass over the target's training stream."""

from __future__ import annotations

import copy
import json

import datasets
import jsonschema
import numpy as np
import pytest
import torch
from model_helpers import params_of

from flm_bench.api import CorpusSpec, hookimpl
from flm_bench.data.splits import EvalSet, Sequences, leave_one_out, temporal
from flm_bench.data.table import from_table
from flm_bench.evaluation import per_user_metrics, rank
from flm_bench.plugins import load_plugins
from flm_bench.results.records import load_record, load_records, migrate, shipped_schema
from flm_bench.suite import TrainConfig
from flm_bench.train.strategy import AdaptContext
from flm_bench_plugins.online import build_stream, prequential, replay_training

PARAMS = {"dim": 16, "layers": 1, "heads": 1, "max_len": 10}
METRICS = ["stream.ndcg@10", "stream.recall@10", "stream.mrr@10", "stream.hit_rate@10"]

SUITE = """
name = "online"
targets = ["synthetic-finance"]
corpora = ["tiny-corpus"]
models = ["sasrec"]
strategies = ["scratch", "online"]
seeds = [0]

[evaluation]
metrics = ["ndcg", "recall", "mrr", "hit_rate"]
cutoffs = [10]

[training]
epochs = 1
batch_size = 256
device = "cpu"

[pretraining]
epochs = 1
batch_size = 256
device = "cpu"

[model_params.sasrec]
dim = 16
layers = 1
heads = 1
max_len = 10
"""


class TinyCorpus:
    @hookimpl
    def flm_bench_register_corpora(self, register):
        register(CorpusSpec("tiny-corpus", datasets=("synthetic-media",)))


@pytest.fixture(scope="module")
def online_run(run_suite):
    return run_suite(SUITE, plugins=load_plugins(extra=[("tiny-corpus", TinyCorpus())]))


@pytest.mark.slow
def test_suite_writes_an_online_record_with_stream_metrics(online_run) -> None:
    records = {r.strategy.name: (p, r) for p, r in load_records(online_run)}
    assert set(records) == {"scratch", "online"}
    path, online = records["online"]
    split = leave_one_out(load_plugins().datasets.get("synthetic-finance").load_data())
    train_users = int((split.train.lengths() > 0).sum())
    stream = online.strategy_metrics
    assert records["scratch"][1].strategy_metrics == {}
    assert stream["stream.events"] == len(split.train.rows) - train_users
    assert stream["stream.order"] == "timestamp" and stream["stream.chunk"] == 256
    assert stream["stream.updates"] == -(-stream["stream.events"] // 256)
    assert sorted(stream) == sorted(["stream.events", "stream.order", "stream.chunk", "stream.updates", *METRICS])
    assert set(online.metrics) == {"ndcg@10", "recall@10", "mrr@10", "hit_rate@10"}
    assert all(0 <= stream[m] <= 1 and np.isfinite(stream[m]) for m in METRICS)
    assert all(0 <= v <= 1 for v in online.metrics.values())  # the ordinary test-split evaluation
    assert online.evaluation.users == len(split.test)
    assert online.strategy.transfer["reinitialised"] == ["encoder.items.ids.weight"]
    assert online.cost.trainable_parameters > 0 and online.training.epochs == 1
    assert (online.training.stopped_by, online.training.optimizer_steps) == ("stream", stream["stream.updates"])
    doc = json.loads(path.read_text())
    jsonschema.validate(doc, shipped_schema())
    # a schema-1 record of the online strategy (its stream object) is migrated on read
    old = {
        **doc,
        "schema_version": 1,
        "stream": {
            "order": "timestamp",
            "events": stream["stream.events"],
            "updates": stream["stream.updates"],
            "chunk": 256,
            "metrics": {m.removeprefix("stream."): stream[m] for m in METRICS},
        },
    }
    del old["strategy_metrics"]
    path.write_text(json.dumps(old))
    assert load_record(path).strategy_metrics == stream
    jsonschema.validate(migrate(old), shipped_schema())


def finance_ctx(**kwargs) -> AdaptContext:
    plugins = load_plugins()
    data = plugins.datasets.get("synthetic-finance").load_data()
    split = kwargs.pop("split", None) or leave_one_out(data)
    return AdaptContext(
        plugins.models.get("sasrec"),
        params_of("sasrec", **PARAMS),
        data,
        split,
        None,
        TrainConfig(device="cpu", **kwargs.pop("train", {})),
        seed=0,
        device="cpu",
        **kwargs,
    )


@pytest.mark.slow
def test_each_chunk_is_scored_before_the_step_that_learns_from_it() -> None:
    n_items = 800  # synthetic-finance: ndcg over the full catalogue is a strictly monotone function of the rank
    ctx = finance_ctx(train={"batch_size": 64, "learning_rate": 0.05}, metrics=[f"ndcg@{n_items}"])
    model = ctx.build()
    start = copy.deepcopy(model)
    snapshots = []
    score = model.score

    def watched(histories, users):
        snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        return score(histories, users)

    model.score = watched
    stream = replay_training(ctx, model)
    initial = start.state_dict()
    n_chunks = stream.updates
    assert n_chunks > 2 and len(snapshots) == n_chunks  # one forward per chunk
    same = lambda a, b: all(torch.equal(a[k], b[k]) for k in a)  # noqa: E731
    assert same(snapshots[0], initial), "the first chunk must be scored by the loaded weights"
    for i in range(1, n_chunks):
        assert not same(snapshots[i], snapshots[i - 1]), f"no step between chunk {i - 1} and chunk {i}"
    assert not same(model.state_dict(), snapshots[n_chunks - 1]), "the last chunk was never learnt from"

    # the first chunk's per-event metrics are exactly those of the untouched weights on the same inputs
    events = build_stream(ctx.split.train, ctx.data)
    first = events.scored[:64]
    train = ctx.split.train
    hist = [
        train.items[train.indptr[u] : train.indptr[u] + p] for u, p in zip(events.user[first], events.position[first])
    ]
    targets = train.items[train.indptr[events.user[first]] + events.position[first]]
    ones = np.arange(65)
    eval_set = EvalSet(
        Sequences(
            train.users[events.user[first]],
            np.concatenate([[0], np.cumsum([len(h) for h in hist])]),
            np.concatenate(hist),
            np.zeros(sum(len(h) for h in hist), np.int64),
        ),
        Sequences(train.users[events.user[first]], ones, targets, np.zeros(64, np.int64)),
    )
    name = f"ndcg@{n_items}"
    start.eval()
    expected = per_user_metrics(rank(start.score, eval_set, n_items), eval_set.targets, [name])[name]
    np.testing.assert_array_equal(stream.per_event[name][:64], expected)
    model.eval()
    after = per_user_metrics(rank(score, eval_set, n_items), eval_set.targets, [name])[name]
    assert not np.array_equal(after, expected), "the check above could not tell before from after"


@pytest.mark.slow  # builds and replays a finance model: ~10 s here under CPU contention
def test_stream_holds_training_interactions_only() -> None:
    ctx = finance_ctx(train={"batch_size": 128}, metrics=["ndcg@10"])
    split = ctx.split
    model = ctx.build()
    seen = []
    score = model.score

    def watched(histories, users):
        seen.append((histories, users))
        return score(histories, users)

    model.score = watched
    stream = replay_training(ctx, model)
    rows = stream.rows
    assert np.isin(rows, split.train.rows).all()
    assert not np.isin(rows, split.valid.targets.rows).any() and not np.isin(rows, split.test.targets.rows).any()
    assert len(np.unique(rows)) == len(rows)
    train = {int(u): split.train.get(i) for i, u in enumerate(split.train.users)}
    for histories, users in seen[: stream.updates]:  # inputs: prefixes of the user's training sequence
        for h, u in zip(histories, users.tolist()):
            assert 0 < len(h) < len(train[u]) and np.array_equal(h, train[u][: len(h)])

    # a temporal split: nothing at or after the validation cutoff enters the stream
    data = ctx.data
    cut = temporal(data)
    stream = build_stream(cut.train, data)
    assert stream.time.max() < cut.derived["valid_cutoff"]
    assert not np.isin(stream.rows, np.concatenate([cut.valid.targets.rows, cut.test.targets.rows])).any()


def table(users, items, orders):
    return datasets.Dataset.from_dict(
        {
            "user": np.asarray(users, np.int64),
            "item": np.asarray(items, np.int64),
            "order": np.asarray(orders, np.int64),
        }
    )


def test_timestamped_stream_is_in_time_order_with_row_ties(tiny_data) -> None:
    # user 0: t=5,1,9 ; user 1: t=3,5,2 ; user 2: t=7,0 (rows 0..7); every user keeps all in train
    data = tiny_data([0, 0, 0, 1, 1, 1, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8], [5, 1, 9, 3, 5, 2, 7, 0])
    train = Sequences(
        np.array([0, 1, 2]),
        np.array([0, 3, 6, 8]),
        np.array([2, 1, 3, 6, 4, 5, 8, 7]),
        np.array([1, 0, 2, 5, 3, 4, 7, 6]),
    )
    stream = build_stream(train, data)
    assert stream.order == "timestamp"
    assert stream.rows.tolist() == [7, 1, 5, 3, 0, 4, 6, 2]  # t = 0,1,2,3,5(row 0),5(row 4),7,9
    assert (np.diff(stream.time) >= 0).all()
    assert stream.rows[stream.scored].tolist() == [3, 0, 4, 6, 2]  # firsts (rows 7, 1, 5) are not targets

    # on a real split: non-decreasing time, ties by canonical row
    split = leave_one_out(load_plugins().datasets.get("synthetic-finance").load_data())
    stream = build_stream(split.train, load_plugins().datasets.get("synthetic-finance").load_data())
    key = np.stack([stream.time, stream.rows], axis=1)
    assert (np.diff(stream.time) >= 0).all()
    assert all(tuple(a) < tuple(b) for a, b in zip(key[:-1], key[1:]))


def test_position_ordered_data_interleave_users_and_say_so() -> None:
    # no timestamps, ordered within users; user 1 has 4 events, user 0 three, user 2 one
    data = from_table(
        "pos",
        "test",
        table([1, 0, 1, 0, 2, 1, 0, 1], [5, 1, 6, 2, 9, 7, 3, 8], [0, 0, 1, 1, 0, 2, 2, 3]),
        timestamped=False,
        ordered=True,
    )
    split = leave_one_out(data)  # train: user 0 -> [1], user 1 -> [5, 6], user 2 -> [9]
    stream = build_stream(split.train, data)
    assert stream.order == "position"
    assert (np.diff(stream.position) >= 0).all(), "every user's t-th event comes before any (t+1)-th"
    assert stream.rows.tolist() == [0, 1, 4, 2]  # position 0 by row, then position 1
    assert stream.rows[stream.scored].tolist() == [2]

    longer = from_table(
        "pos2",
        "test",
        table(np.repeat([0, 1, 2], 6), np.arange(18), np.tile(np.arange(6), 3)),
        timestamped=False,
        ordered=True,
    )
    ctx = AdaptContext(
        load_plugins().models.get("sasrec"),
        params_of("sasrec", **PARAMS, use_features=False),
        longer,
        leave_one_out(longer),
        None,
        TrainConfig(device="cpu", batch_size=2),
        seed=0,
        device="cpu",
        metrics=["ndcg@5"],
    )
    model = ctx.build_neural()
    stream = replay_training(ctx, model)
    assert stream.order == "position" and stream.events == 3 * 3 and stream.updates == 5
    twin = ctx.build_neural()
    again = replay_training(ctx, twin)  # seeded: the same stream values and the same weights
    np.testing.assert_array_equal(again.per_event["ndcg@5"], stream.per_event["ndcg@5"])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), twin.state_dict().values()))
    result = prequential(ctx, ctx.build_neural(), {"loaded": [], "reinitialised": []})
    assert result.metrics["stream.order"] == "position" and result.metrics["stream.events"] == 9
    assert result.fit is not None and result.fit.epochs == 1 and result.trainable_parameters > 0

    unordered = from_table("bag", "test", table([0, 0, 0], [1, 2, 3], [0, 0, 0]), timestamped=False)
    bag = build_stream(Sequences(np.array([0]), np.array([0, 3]), np.array([1, 2, 3]), np.arange(3)), unordered)
    assert bag.order == "row" and bag.rows.tolist() == [0, 1, 2]  # no time at all: file-row order, labelled


def test_online_is_listed_and_needs_pretraining() -> None:
    spec = load_plugins().strategies.get("online")
    assert spec.needs_pretraining and "prequential" in spec.description
