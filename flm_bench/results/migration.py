"""Record documents of older schema versions, read as the current one (:func:`migrate`)."""

from __future__ import annotations

from typing import Any


def migrate(doc: Any) -> Any:
    """A record document of an older schema version, as the current version (others unchanged).

    v1 -> v2: the ``online`` strategy's ``stream`` object became generic ``strategy_metrics``
    (``stream.order``, ``stream.events``, ``stream.updates``, ``stream.chunk``, ``stream.<metric>``).
    v2 -> v3: ``model.text_encoder`` was added; older records did not say (null).
    v3 -> v4: ``training.windows`` was added; every older record was trained on each user's last
    window only (``last``).
    v4 -> v5: ``target_fraction``, ``slices``, ``levels`` and ``evaluation.scaled_cutoffs`` were
    added; older records used all training users (null), measured no slice (empty) and have no
    levels or scaled cutoffs.
    v5 -> v6: ``strategy.parameters`` and ``tuning.strategy_params`` were added; strategies had no
    parameters before (empty).
    v6 -> v7: ``model.ablation`` was added; older records did not say (null).
    """
    if not isinstance(doc, dict) or doc.get("schema_version") not in (1, 2, 3, 4, 5, 6):
        return doc
    if doc["schema_version"] in (4, 5, 6):
        return {**doc, "schema_version": 7}
    if doc["schema_version"] == 1:
        doc = {**doc, "schema_version": 2}
        stream = doc.pop("stream", None)
        metrics: dict[str, Any] = {}
        if isinstance(stream, dict):
            metrics = {f"stream.{k}": v for k, v in stream.items() if k != "metrics"}
            metrics.update({f"stream.{k}": v for k, v in (stream.get("metrics") or {}).items()})
        doc["strategy_metrics"] = metrics
    training = doc.get("training")
    if isinstance(training, dict) and doc["schema_version"] < 4:
        doc = {**doc, "training": {**training, "windows": "last"}}
    return {**doc, "schema_version": 7}
