"""What the overview shows: the matrix, open promotions with their gates, histories, comparisons.

The builders are pure (values in, values out): `promotions` (open promotion PRs and their gate
checklists), `matrix` (apps × environments), `comparison` (two environments side by side),
`contents` (what each cell renders to), `history` (what changed, commit by commit) and
`forge_links` (links into the forge's pages).
`cache.Overview` is their I/O edge and their cache: the environment repo is read once per
commit (`Engine.state()`), open promotions once per relevant event, histories once per head
commit. `invalidate()` is called for every queued webhook and after every job; between events
a page view asks the forge nothing, except that the default branch's head is re-checked (a
conditional request: a 304 costs nothing) when the last look is older than `head_ttl`, and
open PRs are re-read after `pr_ttl` — the safety nets for a lost webhook, or for jobs that run
in other processes.
"""

from bot.web.overview.cache import (
    HEAD_TTL,
    HISTORY_LIMIT,
    LIVE_TTL,
    PR_TTL,
    Overview,
)
from bot.web.overview.comparison import (
    DIFF_LINES,
    AppComparison,
    Compared,
    Difference,
    compare,
    content_diff,
    difference,
)
from bot.web.overview.forge_links import Links, links
from bot.web.overview.history import (
    AppChange,
    EnvEntry,
    app_history,
    covering,
    env_history,
    env_paths,
    pr_number,
)
from bot.web.overview.matrix import (
    Cell,
    Column,
    Matrix,
    Row,
    Version,
    build_matrix,
    cell,
    rules,
    short,
)
from bot.web.overview.promotions import (
    Change,
    Gate,
    GateState,
    OpenPromotion,
    open_promotion,
    parse_gates,
)

__all__ = [
    "DIFF_LINES",
    "HEAD_TTL",
    "HISTORY_LIMIT",
    "LIVE_TTL",
    "PR_TTL",
    "AppChange",
    "AppComparison",
    "Cell",
    "Change",
    "Column",
    "Compared",
    "Difference",
    "EnvEntry",
    "Gate",
    "GateState",
    "Links",
    "Matrix",
    "OpenPromotion",
    "Overview",
    "Row",
    "Version",
    "app_history",
    "build_matrix",
    "cell",
    "compare",
    "content_diff",
    "covering",
    "difference",
    "env_history",
    "env_paths",
    "links",
    "open_promotion",
    "parse_gates",
    "pr_number",
    "rules",
    "short",
]
