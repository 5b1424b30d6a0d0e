"""Names and labels of everything devenv creates on an engine.

Every container, network and volume is named after its profile and carries
``dev.devenv.*`` labels, so two profiles run side by side and cleanup only ever
touches what devenv created.
"""

from __future__ import annotations

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


def service_labels(profile: str, service: str, config_hash: str) -> dict[str, str]:
    return {MANAGED: "true", PROFILE: profile, SERVICE: service, CONFIG_HASH: config_hash}


def volume_labels(profile: str, volume: str) -> dict[str, str]:
    return {MANAGED: "true", PROFILE: profile, VOLUME: volume}


def network_labels(profile: str) -> dict[str, str]:
    return {MANAGED: "true", PROFILE: profile}
