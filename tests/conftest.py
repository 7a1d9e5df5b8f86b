"""Shared test configuration: hypothesis profiles.

``dev`` (the default) runs few examples, fast; ``ci`` (chosen when CI is set, or with
HYPOTHESIS_PROFILE=ci) runs more, derandomized so a CI run is reproducible.
"""

import os

from hypothesis import HealthCheck, settings

# deadline=None: the first call of a Numba kernel compiles it, which no deadline should judge.
settings.register_profile(
    "dev", max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))
