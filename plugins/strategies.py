"""Built-in adaptation strategies: ``scratch`` (the control) and ``finetune``."""

from __future__ import annotations

from flm_bench import hookimpl
from flm_bench.specs import StrategySpec
from flm_bench.strategy import AdaptContext


class Scratch:
    """Control: the same architecture and budget, randomly initialised, trained on the target."""

    def adapt(self, ctx: AdaptContext):
        return ctx.fit(ctx.build())


class Finetune:
    """Load the pretrained encoder (minus item-ID weights), then train all weights on the target."""

    def adapt(self, ctx: AdaptContext):
        model = ctx.build()
        ctx.load_pretrained(model)
        return ctx.fit(model)


@hookimpl
def flm_bench_register_strategies(register):
    register(StrategySpec("scratch", Scratch, needs_pretraining=False,
                          description="train from random initialisation on the target (control)"))
    register(StrategySpec("finetune", Finetune, needs_pretraining=True,
                          description="start from the pretrained encoder, train all weights"))
