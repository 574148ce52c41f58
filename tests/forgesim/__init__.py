"""A forge simulator: GitHub REST v3 and GitLab v4, backed by real bare git repositories.

`World` holds the state (repos, users, pull requests, reviews, statuses, …); `app.create_app`
serves it over HTTP with starlette; `server.Server` runs that on 127.0.0.1 with uvicorn.
"""

from tests.forgesim.server import Server
from tests.forgesim.world import World

__all__ = ["Server", "World"]
