from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.errors import RenderError, RenderTimeout
from bot.manifests.sandbox import Sandbox
from bot.manifests.worker import HelmJob, Rendered, helm
from tests.manifests.charts import PODINFO, write_chart


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(workers=2, timeout=3.0) as sandbox:
        yield sandbox


def podinfo() -> HelmJob:
    return HelmJob(chart=str(PODINFO), label="podinfo", release="web")


def environment() -> Rendered:
    """Runs in a worker: what of the service's environment it can see."""
    return Rendered(" ".join(sorted(os.environ)))


def test_podinfo_renders_in_a_worker(box: Sandbox) -> None:
    rendered = box.run(helm, podinfo())
    assert "kind: Deployment" in rendered.text
    assert "name: web-podinfo" in rendered.text


def test_renders_run_side_by_side(box: Sandbox) -> None:
    futures = [box.submit(helm, podinfo()) for _ in range(6)]
    texts = {future.result().text for future in futures}
    assert len(texts) == 1  # the same chart, the same text, whichever worker took it


def test_workers_see_no_credentials(box: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMOBOT_GITHUB_TOKEN", "ghp_secret")
    # a worker started after the variable was set, as the service's are
    with Sandbox(workers=1) as fresh:
        seen = fresh.run(environment).text.split()
    assert "PROMOBOT_GITHUB_TOKEN" not in seen
    assert "HOME" not in seen


def test_endless_include_recursion_is_an_error(box: Sandbox, tmp_path: Path) -> None:
    chart = write_chart(
        tmp_path, {"a.yaml": '{{ define "a" }}{{ include "a" . }}{{ end }}{{ include "a" . }}'}
    )
    with pytest.raises(RenderError, match=r"Helm could not render loop: .*include"):
        box.run(helm, HelmJob(chart=str(chart), label="loop"))
    with pytest.raises(
        RenderError, match=r"1001 levels deep: a template includes itself"
    ) as caught:
        box.run(helm, HelmJob(chart=str(chart), label="loop"))
    assert len(str(caught.value)) < 600  # Helm repeats each of its 1000 levels; one is enough
    assert str(caught.value).endswith("nested reference name: a: unable to execute template")
    assert "kind: Deployment" in box.run(helm, podinfo()).text


def test_a_huge_range_costs_one_worker_not_the_service(box: Sandbox, tmp_path: Path) -> None:
    chart = write_chart(tmp_path, {"a.yaml": "{{ range until 100000000 }}x{{ end }}"})
    started = time.monotonic()
    with pytest.raises(RenderError, match=r"huge (took longer than 3 s|stopped its worker)"):
        box.run(helm, HelmJob(chart=str(chart), label="huge"), what="huge")
    assert time.monotonic() - started < 10
    assert "kind: Deployment" in box.run(helm, podinfo()).text  # its worker was replaced


def test_a_chart_that_spins_is_stopped_at_the_timeout(box: Sandbox, tmp_path: Path) -> None:
    spin = "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}"
    chart = write_chart(tmp_path, {"a.yaml": spin})
    started = time.monotonic()
    with pytest.raises(RenderTimeout) as caught:  # a timeout, which the renderer never keeps
        box.run(helm, HelmJob(chart=str(chart), label="spin"), what="rendering spin")
    assert str(caught.value) == (
        "rendering spin took longer than 3 s; raise PROMOBOT_RENDER_TIMEOUT or fix the chart"
    )
    assert 2.9 < time.monotonic() - started < 8
    assert "kind: Deployment" in box.run(helm, podinfo()).text


def test_a_worker_out_of_memory_is_named(box: Sandbox, tmp_path: Path) -> None:
    # until's slice of 600M ints is 4.8 GB, past the 2048 MiB a worker may map
    chart = write_chart(tmp_path, {"a.yaml": "{{ len (until 600000000) }}"})
    with pytest.raises(RenderError) as caught:
        box.run(helm, HelmJob(chart=str(chart), label="greedy"), what="rendering greedy")
    assert str(caught.value) == (
        "rendering greedy stopped its worker (exit code -6): it ran out of its 2048 MiB of "
        "memory or crashed; raise PROMOBOT_RENDER_MEMORY_MB or fix the chart"
    )
    assert "kind: Deployment" in box.run(helm, podinfo()).text
