"""Built-in adaptation strategies: ``scratch`` (the control), ``finetune``, ``probe``, ``adapter``,
``online`` (its prequential pass lives in :mod:`flm_bench_plugins.online`, imported when used) and
``zero-shot`` (the pretrained model as it is, no target training).

Whatever a strategy freezes, parameters that could not come from the checkpoint (item-ID
embeddings of the target catalogue, a fresh head) are always trained: frozen random weights
would only handicap the strategy.

Parameters (``[strategy_params.NAME]`` in a suite, ``--param NAME.FIELD=VALUE``, tuned by
``flm-bench tune``): ``finetune.frozen_layers`` (the encoder's lowest blocks kept frozen) and
``adapter.rank`` / ``adapter.alpha`` (LoRA); their defaults are what these strategies always did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flm_bench.api import (
    AdaptContext,
    ConfigError,
    Search,
    StrategyParams,
    StrategyResult,
    StrategySpec,
    hookimpl,
    tunable,
)

if TYPE_CHECKING:
    from torch import nn


class Scratch:
    """Control: the same architecture and budget, randomly initialised, trained on the target."""

    def adapt(self, ctx: AdaptContext) -> StrategyResult:
        return ctx.fit(ctx.build())


class FinetuneParams(StrategyParams):
    frozen_layers: int = tunable(
        0,
        "how many of the encoder's lowest blocks stay frozen (at most the blocks the model has)",
        ge=0,
        search=Search(choices=(0, 1, 2)),
    )

    @classmethod
    def bounds(cls, model: Any) -> dict[str, int]:
        return {"frozen_layers": len(model.encoder_blocks())}


class Finetune:
    """Load the pretrained encoder (minus item-ID weights), then train all weights on the target
    but those of the encoder's ``frozen_layers`` lowest blocks."""

    def adapt(self, ctx: AdaptContext) -> StrategyResult:
        params = ctx.own_params(FinetuneParams)
        model = ctx.build_neural()
        transfer = ctx.load_pretrained(model)
        for block in model.encoder_blocks()[: params.frozen_layers]:
            block.requires_grad_(False)
        return ctx.fit(model, transfer=transfer)


def _train_fresh(model: nn.Module, transfer: dict[str, list[str]]) -> None:
    """Make every parameter that was not loaded from the checkpoint trainable."""
    fresh = set(transfer["reinitialised"])
    for name, param in model.named_parameters():
        if name in fresh:
            param.requires_grad_(True)


class Probe:
    """Load the pretrained encoder and freeze it; train a new head (and the target's item IDs)."""

    def adapt(self, ctx: AdaptContext) -> StrategyResult:
        model = ctx.build_neural()
        transfer = ctx.load_pretrained(model, skip=("head.",))
        model.requires_grad_(False)
        _train_fresh(model, transfer)
        return ctx.fit(model, transfer=transfer)


class AdapterParams(StrategyParams):
    rank: int = tunable(8, "LoRA rank r", ge=1, le=256, search=Search(choices=(4, 8, 16)))
    alpha: int = tunable(
        16, "LoRA alpha (updates are scaled by alpha / rank)", ge=1, search=Search(choices=(8, 16, 32))
    )


class Adapter:
    """LoRA (``rank``, ``alpha``) on the encoder's Linear layers through ``peft``; the pretrained
    weights stay frozen, the adapters, the head and the target's item IDs are trained."""

    def adapt(self, ctx: AdaptContext) -> StrategyResult:
        from peft import LoraConfig, inject_adapter_in_model

        params = ctx.own_params(AdapterParams)
        model = ctx.build_neural()
        transfer = ctx.load_pretrained(model)
        model.requires_grad_(False)
        if not model.adapter_targets:
            raise ConfigError(f"model {ctx.spec.name!r} declares no adapter_targets for the adapter strategy")
        config = LoraConfig(r=params.rank, lora_alpha=params.alpha, target_modules=list(model.adapter_targets))
        inject_adapter_in_model(config, model.encoder)  # adapters start at zero: same function as loaded
        model.head.requires_grad_(True)
        _train_fresh(model, transfer)
        return ctx.fit(model, transfer=transfer)


class Online:
    """Load the pretrained encoder (minus item-ID weights) as ``finetune`` does, then one
    prequential pass over the target's training interactions in time order: each chunk is
    predicted (and measured) before the model takes a step on it."""

    def adapt(self, ctx: AdaptContext) -> StrategyResult:
        from flm_bench_plugins.online import prequential

        model = ctx.build_neural()
        return prequential(ctx, model, ctx.load_pretrained(model))


class ZeroShot:
    """The pretrained model applied to the target as it is: no training on the target. Only a model
    whose every parameter comes from the checkpoint can do that (items represented by content, not
    by target item IDs, and no fresh head); any other is refused, naming what would be untrained."""

    def adapt(self, ctx: AdaptContext) -> StrategyResult:
        model = ctx.build_neural()
        transfer = ctx.load_pretrained(model)
        untrained = transfer["reinitialised"]
        if untrained:
            shown = ", ".join(untrained[:3]) + (f" and {len(untrained) - 3} more" if len(untrained) > 3 else "")
            raise ConfigError(
                f"zero-shot: model {ctx.spec.name!r} would score the target with untrained parameters ({shown}), "
                "which the checkpoint cannot provide: only a model that represents items by content can run "
                "zero-shot (e.g. without item-ID embeddings)"
            )
        model.eval()
        return StrategyResult(model, None, 0, transfer)


@hookimpl
def flm_bench_register_strategies(register):
    register(
        StrategySpec(
            "scratch",
            Scratch,
            needs_pretraining=False,
            description="train from random initialisation on the target (control)",
        )
    )
    register(
        StrategySpec(
            "finetune",
            Finetune,
            needs_pretraining=True,
            description="start from the pretrained encoder, train all weights (but frozen_layers lowest blocks)",
            params=FinetuneParams,
        )
    )
    register(
        StrategySpec(
            "probe",
            Probe,
            needs_pretraining=True,
            description="frozen pretrained encoder, new head (plus the target's item IDs)",
        )
    )
    register(
        StrategySpec(
            "adapter",
            Adapter,
            needs_pretraining=True,
            description="LoRA (rank, alpha) on the frozen encoder's Linear layers (peft), head and item IDs trained",
            params=AdapterParams,
        )
    )
    register(
        StrategySpec(
            "online",
            Online,
            needs_pretraining=True,
            description="start from the pretrained encoder, one prequential (test-then-train) "
            "pass over the training interactions in time order",
        )
    )
    register(
        StrategySpec(
            "zero-shot",
            ZeroShot,
            needs_pretraining=True,
            trains=False,
            description="the pretrained model as it is, no target training (content-only models)",
        )
    )
