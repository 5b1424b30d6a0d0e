"""The catalogue: ready-made environments (service images, database snapshot, image
set) published to and pulled from any OCI registry.

* ``publish(engine, stack, ref, reporter, ...)`` pushes a profile's images (through
  the Engine), its snapshot and image set (OCI artifacts in chunks) and a catalogue
  entry naming all of them by digest;
* ``list_catalogue(ref, engine)`` reads the entries and what of each is here already;
* ``pull(engine, ref, profile, reporter, ...)`` downloads and verifies everything an
  entry names and installs it so that ``devenv up PROFILE`` neither builds nor seeds.

The registry protocol (``client.RegistryClient``) is the OCI distribution API over
``requests``, with Docker's credential lookup (``credentials``). See docs/catalogue.md.
"""

from .errors import (CatalogueNotFoundError, DigestMismatchError, RegistryAuthError, RegistryError,
                     RegistryUnreachableError)
from .publish import PublishResult, publish
from .pull import Listed, PullResult, list_catalogue, pull
from .reference import RegistryRef

__all__ = ["CatalogueNotFoundError", "DigestMismatchError", "Listed", "PublishResult", "PullResult",
           "RegistryAuthError", "RegistryError", "RegistryRef", "RegistryUnreachableError", "list_catalogue",
           "publish", "pull"]
