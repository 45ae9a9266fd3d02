"""lantern_nb: the helper package behind the LANTERN companion notebooks."""
from typing import Any

from lantern_nb.profiles import Profile, ProfileError, load_profile
from lantern_nb.schema import LABELS, FitResult, Pair


def explore(profile: str = "cpu", overrides: dict[str, Any] | None = None, job_text: str | None = None,
            resume_text: str | None = None) -> Any:
    """The fit explorer widget in one call, from any notebook: `lantern_nb.explore("cpu")`.

    Loads the served models of `profile` itself (written by notebooks 04 and 06) and shows their
    measured quality above the widget; see `lantern_nb.serving.explorer.explore`."""
    from lantern_nb.serving.explorer import explore as _explore

    return _explore(profile, overrides, job_text, resume_text)


__all__ = ["FitResult", "LABELS", "Pair", "Profile", "ProfileError", "explore", "load_profile"]
__version__ = "0.1.0"
