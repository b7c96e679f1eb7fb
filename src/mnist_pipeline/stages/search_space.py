"""A search space written in Hydra's sweep syntax, as Optuna distributions.

`choice(32, 64)`, `range(2, 10)`, `interval(0.1, 1)` and `tag(log, interval(...))` are parsed
by Hydra's own override parser, as hydra-optuna-sweeper does, so conf/hparams_search/ keeps
the syntax it had with that plugin; any other value is a fixed override given to every trial.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mnist_pipeline.plumbing.errors import ConfigError


@dataclass(frozen=True)
class SearchSpace:
    distributions: dict[str, Any] = field(default_factory=dict)  # key -> optuna BaseDistribution
    fixed: list[str] = field(default_factory=list)  # overrides every trial gets as they are

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The Hydra overrides of one trial: its sampled params, then the fixed ones."""
        return [*(f"{key}={value}" for key, value in params.items()), *self.fixed]


def parse(params: dict[str, str], arguments: list[str]) -> SearchSpace:
    """`hydra.sweeper.params` and the command line's overrides (which win) as one search space."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    lines = [*(f"{key}={value}" for key, value in params.items()), *arguments]
    space = SearchSpace()
    for override in OverridesParser.create().parse_overrides(lines):
        key = override.get_key_element()
        space.distributions.pop(key, None)
        if override.is_sweep_override():
            space.distributions[key] = _distribution(override)
        else:
            assert override.input_line is not None
            space.fixed.append(override.input_line)
    return space


def _distribution(override: Any) -> Any:
    from hydra.core.override_parser.types import IntervalSweep, RangeSweep, Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    value = override.value()
    if override.is_choice_sweep() or (isinstance(value, RangeSweep) and value.shuffle):
        return CategoricalDistribution(list(override.sweep_iterator(transformer=Transformer.encode)))
    if isinstance(value, RangeSweep):
        bounds = (value.start, value.stop, value.step)
        if any(isinstance(b, float) for b in bounds):
            return FloatDistribution(float(value.start), float(value.stop), step=float(value.step or 0) or None)
        # Hydra's range stops before `stop` (as Python's does); Optuna's `high` is the last value.
        start, stop, step = int(value.start), int(value.stop), int(value.step)
        return IntDistribution(start, start + (stop - start - 1) // step * step, step=step)
    if isinstance(value, IntervalSweep):
        log = "log" in value.tags
        if isinstance(value.start, int) and isinstance(value.end, int):
            return IntDistribution(value.start, value.end, log=log)
        return FloatDistribution(float(value.start), float(value.end), log=log)
    raise ConfigError(f"{override.input_line}: Optuna cannot sample this; use choice, range, interval or tag(log, ...)")
