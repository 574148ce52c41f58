"""`.promobot.yaml`: the models, the loader, and every check that gives file:line:col errors.

One layer (configuration), in rooms from the ground up:

- `values`: durations, weekly freeze windows, tag patterns, the strict base model
- `templates`: `{env}`/`{app}` placeholders, filling them, paths kept inside the repository
- `live`: where an environment learns what its cluster runs
- `environments`: an environment, its gates and its watch after a merge
- `apps`: an app's components, their sources and targets
- `model`: `Config`, the whole file, and what the rest of promobot asks of it
- `checks`: the checks across fields (names, upstreams, cycles, paths, groups, notify)
- `loader`: YAML to `Config`, with the position of every problem

The rest of promobot imports from here (`from bot.config import Config`, `config.load(...)`).
"""

from bot.config.apps import App, Component, Source, Target
from bot.config.checks import (
    COMMANDS,
    KNOWN_MAX,
    NAME_MAX,
    NAME_PATTERN,
    NOTIFY_EVENTS,
    NOTIFY_TARGET,
)
from bot.config.environments import (
    IMPACT_CLASSES,
    AutoMerge,
    Environment,
    Gates,
    ImpactClass,
    ImpactRule,
    Verify,
)
from bot.config.live import ArgoCDLive, FleetLive, FluxLive, LiveSource, RolloutLive, StatusLive
from bot.config.loader import FILENAME, MAX_ALIAS_NODES, load, load_at, locate
from bot.config.model import Config, ResolvedTarget, schema
from bot.config.templates import RepoPath, expand, path_problem
from bot.config.values import (
    DAYS,
    MAX_BATCH,
    MAX_DURATION,
    Duration,
    Freeze,
    FreezeWindow,
    TagPattern,
    parse_duration,
    parse_freeze,
)

__all__ = [
    "COMMANDS",
    "DAYS",
    "FILENAME",
    "IMPACT_CLASSES",
    "KNOWN_MAX",
    "MAX_ALIAS_NODES",
    "MAX_BATCH",
    "MAX_DURATION",
    "NAME_MAX",
    "NAME_PATTERN",
    "NOTIFY_EVENTS",
    "NOTIFY_TARGET",
    "App",
    "ArgoCDLive",
    "AutoMerge",
    "Component",
    "Config",
    "Duration",
    "Environment",
    "FleetLive",
    "FluxLive",
    "Freeze",
    "FreezeWindow",
    "Gates",
    "ImpactClass",
    "ImpactRule",
    "LiveSource",
    "RepoPath",
    "ResolvedTarget",
    "RolloutLive",
    "Source",
    "StatusLive",
    "TagPattern",
    "Target",
    "Verify",
    "expand",
    "load",
    "load_at",
    "locate",
    "parse_duration",
    "parse_freeze",
    "path_problem",
    "schema",
]
