"""``flm-cnn``: the "Pretraining-FLM" design's model done properly — a convolutional
sequence encoder in the style of Caser (Tang & Wang, "Personalized Top-N Sequential
Recommendation via Convolutional Sequence Embedding", WSDM 2018) with an MLP head.

Encoder ``H = f(X; θ)``, for one window of the last ``L = max_len`` items::

    items ──► E [L, d]  (item-ID embedding + Linear(standardised item_features); padding = 0,
                         windows shorter than L are left-padded so the newest item is row L-1)
    horizontal: for h in 1..L, n_h filters of size h × d   ──► ReLU ──► max over the L-h+1 offsets ──► [n_h·L]
    vertical:   n_v filters of size L × 1 (weighted sums of the L rows)                          ──► [n_v·d]
    concat ──► dropout ──► Linear(n_h·L + n_v·d, d) ──► ReLU ──► H [d]

A convolution whose kernel spans the full embedding width is a Linear layer on the flattened
h × d patch, and a vertical filter is a Linear layer over the L rows, so every filter is an
``nn.Linear`` (same function and parameter count as Caser's ``Conv2d``). ``adapter_targets``
(LoRA under the ``adapter`` strategy) are the horizontal filters and the Linear after the
concatenation; the vertical Linear (L inputs, n_v outputs) is smaller than a rank-8 adapter.
Head ``Y = g(H; W)``: a residual MLP turning H into a query, scored by dot product against
every item's representation (the full catalogue). Caser's user embedding is left out: user
IDs are tied to one dataset and the harness scores histories, not user IDs.

Why a window at *every* position: the harness trains on ``[B, T]`` sequences with a target
after every position, and ``hidden`` must let position t see only items ≤ t. Here position t
gets its own causal window (items t-L+1..t, left-padded with zeros), so each training
sequence yields T next-item examples — Caser's sliding-window training data — in one
batched pass, with no Python loop over positions. It is computed without materialising the
windows: each horizontal filter runs once over the zero-padded sequence (``unfold`` into
h × d patches, then its Linear), and position t takes the max over the L-h+1 patches inside
its window (a sliding max, again an ``unfold``); the vertical filters act on an ``unfold``
view of the windows. This is exactly Caser's per-window computation (the tests check it
against a literal ``Conv2d`` transcription) at about half the cost of encoding T separate
windows. Training uses the last ``train_len`` items of each history (the model attribute
``max_len`` that the harness's batcher reads; default 20, the same training positions as
``sasrec``'s default); scoring needs only the last window, so :meth:`score` pads histories
to their last L items.

Loss (parameter ``loss``), all on next-item targets at every position:

- ``ce``: softmax cross-entropy over the whole catalogue (default);
- ``bce``: binary cross-entropy of the target's score against ``negatives`` uniformly sampled
  other items per positive (Caser's loss);
- ``mse``: the document's mean squared error, the target's raw score against 1 and each
  sampled negative's against 0.

Negatives are drawn uniformly from the catalogue minus the target, with torch's global
generator (seeded by the harness).

What transfers to another catalogue: the feature projection (when both catalogues' features
have the same width), all filters, the Linear after them and the head. Item-ID embeddings
are tied to one catalogue and are re-initialised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from flm_bench.api import BuildInputs, ModelParams, ModelSpec, Search, hookimpl, tunable

if TYPE_CHECKING:
    from flm_bench_plugins.flm_cnn_net import FlmCNN


class FlmCNNParams(ModelParams):
    dim: int = tunable(64, "item and hidden dimension d", ge=1, search=Search(choices=(32, 64, 128)))
    max_len: int = tunable(
        5, "window L: the last L items the CNN sees (Caser: 5)", ge=1, search=Search(choices=(3, 5, 8))
    )
    train_len: int = tunable(
        20,
        "trailing items of each training history trained on, one window per position",
        ge=1,
        search=Search(choices=(20, 50)),
    )
    n_h: int = tunable(
        16, "horizontal filters per height h = 1..L (Caser: 16)", ge=1, search=Search(choices=(8, 16, 32))
    )
    n_v: int = tunable(4, "vertical filters (Caser: 4)", ge=1, search=Search(choices=(2, 4, 8)))
    dropout: float = tunable(
        0.5, "on the concatenated filter outputs (Caser: 0.5)", ge=0, lt=1, search=Search(low=0.0, high=0.6)
    )
    use_ids: bool = True  # item-ID embeddings (never transfer across catalogues)
    use_features: bool = True  # projection of item side features, when the dataset has them
    loss: Literal["ce", "bce", "mse"] = "ce"
    negatives: int = tunable(
        1, "sampled negatives per positive for bce and mse", ge=1, search=Search(choices=(1, 5, 20))
    )


def build(inputs: BuildInputs[FlmCNNParams]) -> FlmCNN:
    """A :class:`~flm_bench_plugins.flm_cnn_net.FlmCNN` for the catalogue (imports torch)."""
    from flm_bench_plugins.flm_cnn_net import FlmCNN

    return FlmCNN(inputs.n_items, inputs.params, inputs.item_features)


@hookimpl
def flm_bench_register_models(register):
    register(
        ModelSpec(
            name="flm-cnn",
            build=build,
            pretrainable=True,
            item_representation="ids+features",
            params=FlmCNNParams,
            objectives=("next-item",),
            description="Caser-style CNN over the last L items (Pretraining-FLM's f(X; θ)) with an MLP head; "
            "encoder transfers, ID embeddings do not",
        )
    )
