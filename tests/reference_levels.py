"""Where the published reference levels live.

``tests/data/reference_levels.toml`` is a copy of the project's shared reference cases
(closed forms and published tables: Hioe & Montroll for x^4, Morse 1929, Pöschl–Teller 1933,
Yang et al. 1991 for 2D hydrogen). The shared copy beside the checkout is preferred when present
so that an update there is picked up.
"""

from pathlib import Path

_SHARED = Path(__file__).resolve().parents[2] / "shared" / "cases" / "reference_levels.toml"
_BUNDLED = Path(__file__).resolve().parent / "data" / "reference_levels.toml"

LEVELS_FILE = _SHARED if _SHARED.exists() else _BUNDLED
