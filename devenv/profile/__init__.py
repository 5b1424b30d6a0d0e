"""Profiles: the typed model, loading with positions, schema validation, ``extends``."""

from .loader import DEFAULT_PROFILE, ProfileStore, default_profile_name
from .merge import merge
from .model import Profile, Service

__all__ = ["DEFAULT_PROFILE", "Profile", "ProfileStore", "Service", "default_profile_name", "merge"]
