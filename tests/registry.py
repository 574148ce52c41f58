"""A real CNCF Distribution registry (Debian's `docker-registry`) on 127.0.0.1, for tests.

`Registry` starts `/usr/bin/docker-registry serve` with storage in a temporary folder and plain
HTTP on a free loopback port, optionally behind htpasswd basic auth and sending notifications,
and stops it on exit. `push(name, tag)` copies a tiny OCI image, built here by hand (no
network, no container engine), into it with `skopeo copy`. Needs the Debian packages
`docker-registry` and `skopeo`, and the `bcrypt` Python package for htpasswd.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import socket
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

import httpx
import pytest
import yaml

REGISTRY = "/usr/bin/docker-registry"
SKOPEO = "/usr/bin/skopeo"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_CHART = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def available() -> bool:
    return Path(REGISTRY).exists() and Path(SKOPEO).exists()


# Skip where the packages are missing, except under CI, where a skip would hide a missing install.
needs_registry = pytest.mark.skipif(
    not available() and not os.environ.get("CI"),
    reason="needs the Debian packages docker-registry and skopeo",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Registry:
    """`with Registry() as r: r.push("team/api", "1.4.2")` — a registry at `r.host`."""

    def __init__(
        self,
        auth: tuple[str, str] | None = None,
        notify_url: str | None = None,
        notify_token: str | None = None,
    ) -> None:
        self.auth = auth
        self.notify_url = notify_url
        self.notify_token = notify_token
        self._tmp = tempfile.TemporaryDirectory(prefix="registry-")
        self.root = Path(self._tmp.name)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> Registry:
        config = self.root / "config.yml"
        config.write_text(yaml.safe_dump(self._config()))
        log = (self.root / "registry.log").open("wb")
        self._process = subprocess.Popen(
            [REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{self.url}/v2/", timeout=1).status_code in (200, 401):
                    return self
            except httpx.TransportError:
                pass
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not start:\n{self.log()[-2000:]}")
            time.sleep(0.02)

    def _config(self) -> dict[str, object]:
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.root / "data")},
                "delete": {"enabled": True},
            },
            "http": {"addr": self.host, "secret": "test-only-secret"},
        }
        if self.auth is not None:
            import bcrypt  # only needed with auth

            user, password = self.auth
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
            (self.root / "htpasswd").write_text(f"{user}:{hashed}\n")
            config["auth"] = {
                "htpasswd": {"realm": "test-realm", "path": str(self.root / "htpasswd")}
            }
        if self.notify_url is not None:
            headers = (
                {"Authorization": [f"Bearer {self.notify_token}"]} if self.notify_token else {}
            )
            config["notifications"] = {
                "endpoints": [
                    {
                        "name": "promobot",
                        "url": self.notify_url,
                        "headers": headers,
                        "timeout": "2s",
                        "threshold": 3,
                        "backoff": "1s",
                    }
                ]
            }
        return config

    def log(self) -> str:
        path = self.root / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def push(
        self,
        name: str,
        tag: str,
        *,
        annotations: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        """Push a tiny image (distinct per name and tag) as `name:tag`; its manifest digest.
        `annotations` go on its manifest, `labels` into its config (as `docker build` puts
        them)."""
        key = json.dumps([name, tag, annotations, labels], sort_keys=True)
        layout = self.root / "layouts" / hashlib.sha256(key.encode()).hexdigest()[:16]
        if not layout.exists():
            write_image_layout(
                layout, tag, label=f"{name}:{tag}", annotations=annotations, labels=labels
            )
        digestfile = layout / "pushed-digest"
        self._skopeo(
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            *self._creds("--dest-creds"),
            "--digestfile",
            str(digestfile),
            f"oci:{layout}:{tag}",
            f"docker://{self.host}/{name}:{tag}",
        )
        return digestfile.read_text().strip()

    def push_chart(self, name: str, tag: str, chart: Mapping[str, object]) -> None:
        """Push a Helm chart as `helm push` lays it out: Chart.yaml (`chart`) as the JSON
        config blob (`application/vnd.cncf.helm.config.v1+json`), the package as its layer."""
        key = json.dumps([name, tag, chart], sort_keys=True)
        layout = self.root / "layouts" / hashlib.sha256(key.encode()).hexdigest()[:16]
        blobs = layout / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)

        def blob(data: bytes) -> str:
            digest = hashlib.sha256(data).hexdigest()
            (blobs / digest).write_bytes(data)
            return f"sha256:{digest}"

        config = json.dumps(chart, sort_keys=True).encode()
        package = gzip.compress(b"a chart package", mtime=0)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": HELM_CONFIG, "digest": blob(config), "size": len(config)},
                "layers": [
                    {"mediaType": HELM_CHART, "digest": blob(package), "size": len(package)}
                ],
            }
        ).encode()
        index = {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": blob(manifest),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": tag},
                }
            ],
        }
        (layout / "index.json").write_text(json.dumps(index))
        (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        self._skopeo(
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            *self._creds("--dest-creds"),
            f"oci:{layout}:{tag}",
            f"docker://{self.host}/{name}:{tag.replace('+', '_')}",
        )

    def inspect_digest(self, name: str, tag: str) -> str:
        """The manifest digest of `name:tag` as skopeo sees it in the registry."""
        out = self._skopeo(
            "inspect",
            "--tls-verify=false",
            *self._creds("--creds"),
            f"docker://{self.host}/{name}:{tag}",
        )
        return str(json.loads(out)["Digest"])

    def _creds(self, flag: str) -> list[str]:
        return [flag, f"{self.auth[0]}:{self.auth[1]}"] if self.auth else []

    def _skopeo(self, *args: str) -> str:
        done = subprocess.run(
            [SKOPEO, "--insecure-policy", *args], capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"skopeo {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        self._tmp.cleanup()


def write_image_layout(
    path: Path,
    tag: str,
    label: str,
    annotations: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> None:
    """An OCI image layout holding one linux/amd64 image with one empty layer, tagged `tag`."""
    blobs = path / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def blob(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}"

    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w", format=tarfile.USTAR_FORMAT):
        pass  # an empty archive: two zero blocks
    layer = gzip.compress(tar.getvalue(), mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Labels": {"test.image": label, **(labels or {})}},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()],
            },
        },
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": blob(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": blob(layer), "size": len(layer)}],
            **({"annotations": dict(annotations)} if annotations else {}),
        },
        sort_keys=True,
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": blob(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (path / "index.json").write_text(json.dumps(index))
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
