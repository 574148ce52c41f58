from __future__ import annotations

import pytest

from bot.config import Source
from bot.source_pages import Shown, image_page, shown


@pytest.mark.parametrize(
    ("reference", "page"),
    [
        ("ghcr.io/stefanprodan/podinfo", "https://ghcr.io/stefanprodan/podinfo"),
        ("ghcr.io/acme/charts/api", None),  # a nested package: its page's address is not known
        ("nginx", "https://hub.docker.com/_/nginx"),
        ("docker.io/library/nginx", "https://hub.docker.com/_/nginx"),
        ("acme/checkout", "https://hub.docker.com/r/acme/checkout"),
        ("docker.io/acme/checkout", "https://hub.docker.com/r/acme/checkout"),
        (
            "registry-1.docker.io/bitnamicharts/nginx",
            "https://hub.docker.com/r/bitnamicharts/nginx",
        ),
        (
            "quay.io/jetstack/cert-manager-controller",
            "https://quay.io/repository/jetstack/cert-manager-controller",
        ),
        ("registry.example.com/acme/api", None),
        ("localhost:5000/acme/api", None),
        ("ghcr.io/Acme/api", None),  # not an image name
    ],
)
def test_image_pages_only_on_registries_whose_pages_are_known(
    reference: str, page: str | None
) -> None:
    assert image_page(reference) == page


def test_a_source_is_shown_as_written() -> None:
    http = Source(chart="podinfo", repo="https://stefanprodan.github.io/podinfo/")
    assert shown(http) == Shown("podinfo from https://stefanprodan.github.io/podinfo", None)
    oci = Source(chart="podinfo", repo="oci://ghcr.io/stefanprodan")
    assert shown(oci) == Shown(
        "oci://ghcr.io/stefanprodan/podinfo", "https://ghcr.io/stefanprodan/podinfo"
    )
    git = Source(git="acme/api-config")
    assert shown(git) == Shown("acme/api-config", None)  # the forge is not known
    assert (
        shown(git, "https://gitlab.example.com").url == "https://gitlab.example.com/acme/api-config"
    )
    assert shown(Source(git="../api-config"), "").url is None  # a path on promobot's machine
