"""Production parity: fingerprints of hosts and images, drift against production, verify.

* ``targets.fingerprint(Target.parse("ssh://deploy@web1"), paths)`` -> ``HostFingerprint``
  (one remote command per host: ``script.SCRIPT`` prints every fact as JSON);
* ``drift.drift_profile(engine, stack, FingerprintFile.read(path), against=path)`` -> ``DriftReport``;
* ``verify.verify_environment(engine, stack, project_dir=...)`` -> ``VerifyReport``.

Failed drift and verify runs are results, not exceptions; errors are ``parity.errors``.
"""

from .drift import DEFAULT_IGNORE, DriftReport, compare, drift_profile
from .errors import FingerprintFileError, TargetError, VerifyConfigError
from .model import FingerprintFile, HostFingerprint
from .targets import Target, fingerprint
from .verify import VerifyReport, verify_environment

__all__ = ["DEFAULT_IGNORE", "DriftReport", "FingerprintFile", "FingerprintFileError", "HostFingerprint",
           "Target", "TargetError", "VerifyConfigError", "VerifyReport", "compare", "drift_profile", "fingerprint",
           "verify_environment"]
