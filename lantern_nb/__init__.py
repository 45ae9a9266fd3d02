"""lantern_nb: the helper package behind the LANTERN companion notebooks."""
from lantern_nb.profiles import Profile, ProfileError, load_profile
from lantern_nb.schema import LABELS, FitResult, Pair

__all__ = ["FitResult", "LABELS", "Pair", "Profile", "ProfileError", "load_profile"]
__version__ = "0.1.0"
