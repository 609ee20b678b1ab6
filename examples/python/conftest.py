"""Let each example's tests import its plugin module (and the SDK from this
checkout when it is not installed)."""

import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sdk = here.parents[1] / "guest-sdk" / "python" / "src"
for p in [sdk, *(d for d in sorted(here.iterdir()) if (d / "pyproject.toml").exists())]:
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
