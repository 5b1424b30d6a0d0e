"""Names and labels of everything devenv creates on an engine.

Every container, network and volume is named after its profile and carries
``dev.devenv.*`` labels, so two profiles run side by side and cleanup only ever
touches what devenv created.
"""

from __future__ import annotations

import os

PREFIX = "dev.devenv"
MANAGED = f"{PREFIX}.managed"
PROFILE = f"{PREFIX}.profile"
SERVICE = f"{PREFIX}.service"
VOLUME = f"{PREFIX}.volume"
CONFIG_HASH = f"{PREFIX}.config-hash"
IMAGE_HASH = f"{PREFIX}.image-hash"
KIND = f"{PREFIX}.kind"


def project(profile: str) -> str:
    return f"devenv-{profile}"


def container_name(profile: str, service: str) -> str:
    return f"devenv-{profile}-{service}"


def network_name(profile: str) -> str:
    return f"devenv-{profile}"


def volume_name(profile: str, volume: str) -> str:
    return f"devenv-{profile}-{volume}"


def extra_labels() -> dict[str, str]:
    """Labels from $DEVENV_LABELS ("k=v,k2=v2"), put on everything devenv creates.

    CI jobs and the integration tests use it to find and remove what they made.
    """
    out = {}
    for item in os.environ.get("DEVENV_LABELS", "").split(","):
        key, sep, value = item.strip().partition("=")
        if key and sep:
            out[key] = value
    return out


def service_labels(profile: str, service: str, config_hash: str, extra: bool = True) -> dict[str, str]:
    return (extra_labels() if extra else {}) | {MANAGED: "true", PROFILE: profile, SERVICE: service, CONFIG_HASH: config_hash}


def volume_labels(profile: str, volume: str, extra: bool = True) -> dict[str, str]:
    return (extra_labels() if extra else {}) | {MANAGED: "true", PROFILE: profile, VOLUME: volume}


def network_labels(profile: str) -> dict[str, str]:
    return extra_labels() | {MANAGED: "true", PROFILE: profile}
