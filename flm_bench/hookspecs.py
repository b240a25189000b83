"""Hook specifications: how a plugin adds datasets, corpora, models, strategies and commands.

A plugin is a module (or object) with functions marked ``@flm_bench.hookimpl`` whose names
match the specifications below. Ship it in a distribution that declares it in the
``flm_bench`` entry-point group::

    [project.entry-points.flm_bench]
    my_plugin = "my_package.plugin"

Every ``register`` hook receives one callable; call it once per thing you add, with a spec
from :mod:`flm_bench.api`. Each plugin's hook is called through pluggy's hook caller on its
own, so hook wrappers (``@hookimpl(wrapper=True)``) of any plugin run around each plugin's
implementation, and a plugin whose hook raises is reported and skipped without stopping the
others. Registering must be cheap: import torch, read files or build
models inside the spec's factories, never at module import or in the hook itself, so that
``flm-bench --help`` and ``flm-bench list`` stay fast. A name registered by two plugins is an
error naming both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from flm_bench.specs import CorpusSpec, DatasetSpec, ModelSpec
    from flm_bench.train.strategy import StrategySpec

PROJECT = "flm_bench"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def flm_bench_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    """Register datasets.

    :param register: call ``register(DatasetSpec(...))`` once per dataset. The spec's
        ``load(location)`` callable gets a :class:`flm_bench.api.DataLocation` (the user's data
        folder and mirror), returns a :class:`flm_bench.api.InteractionData` and is called only
        when the dataset is used.

    Called once, when plugins are loaded (the first time a command needs a registry).
    """


@hookspec
def flm_bench_register_corpora(register: Callable[[CorpusSpec], None]) -> None:
    """Register pretraining corpora (named sets of dataset names).

    :param register: call ``register(CorpusSpec(...))`` once per corpus. Dataset names may
        come from any plugin; they are resolved when the corpus is used.

    Called once, when plugins are loaded.
    """


@hookspec
def flm_bench_register_models(register: Callable[[ModelSpec], None]) -> None:
    """Register model variants.

    :param register: call ``register(ModelSpec(...))`` once per variant. The spec's
        ``build(inputs)`` factory gets a :class:`flm_bench.api.BuildInputs`, returns a
        :class:`flm_bench.api.Recommender` and is the place to import torch.

    Called once, when plugins are loaded.
    """


@hookspec
def flm_bench_register_strategies(register: Callable[[StrategySpec], None]) -> None:
    """Register adaptation strategies.

    :param register: call ``register(StrategySpec(...))`` once per strategy. The spec's
        ``build`` factory returns an object whose ``adapt(ctx)`` takes a
        :class:`flm_bench.api.AdaptContext` and returns a :class:`flm_bench.api.StrategyResult`.

    Called once, when plugins are loaded.
    """


@hookspec
def flm_bench_register_commands(app: typer.Typer) -> None:
    """Add sub-commands to the ``flm-bench`` command line.

    :param app: the root :class:`typer.Typer`; add commands with ``app.command()`` or
        groups with ``app.add_typer()``. Keep imports inside the command functions.

    Called once, when the CLI starts, before arguments are parsed.
    """
