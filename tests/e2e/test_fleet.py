"""`promobot serve` as a process serving several local checkouts: the banner lists them, the
home page links each, and a checkout whose `.promobot.yaml` is broken is reported while the
others are served."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import MakeRepo
from tests.e2e.service import Promobot, wait_for
from tests.test_fleet import FILES


def test_serve_lists_its_repos_and_a_broken_one_stops_no_other(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    good = make_repo(files=FILES).rename(tmp_path / "payments")
    broken = make_repo(files={**FILES, ".promobot.yaml": "version: 1\napps: 3\n"})
    broken = broken.rename(tmp_path / "broken")
    settings = {
        "PROMOBOT_FORGE": "local",
        "PROMOBOT_REPOS": f"{good},{broken}",
        "PROMOBOT_DATA_DIR": str(tmp_path / "data"),
        "PROMOBOT_RECONCILE_INTERVAL": "1h",
        "PROMOBOT_COALESCE": "0s",
    }
    with Promobot(settings) as promobot:
        log = promobot.log()
        assert "promobot serving 2 local repos" in log and str(good) in log
        wait_for(
            "the promotion in payments",
            lambda: (
                "promobot/prod/api" in good.joinpath(".git", "packed-refs").read_text()
                if good.joinpath(".git", "packed-refs").exists()
                else good.joinpath(".git", "refs", "heads", "promobot", "prod", "api").exists()
            ),
        )
        assert "repo misconfigured" in promobot.log()
        home = httpx.get(f"{promobot.url}/").text
        assert 'href="/repos/payments/"' in home and 'href="/repos/broken/"' in home
        assert httpx.get(f"{promobot.url}/repos/payments/").status_code == 200
        assert httpx.get(f"{promobot.url}/readyz").json() == {"ready": True}
