"""labkit: the library behind the VPC Flow Logs Lab notebooks.

A learner writes ``lab = open_lab(step=4)`` and gets a lab brought to the
state after notebook 4, on the offline emulator by default.
"""

import importlib

from labkit.errors import LabError

__all__ = ["LabError", "charts", "exercises", "flowlogs", "open_lab", "widgets"]
__version__ = "0.1.0"

# Modules a notebook may import by name (``from labkit import charts``), loaded on first use
# so that ``import labkit.flowlogs`` stays light (no boto3, no matplotlib).
_LAZY_MODULES = {
    "charts": "labkit.analysis.charts",
    "exercises": "labkit.analysis.exercises",
    "widgets": "labkit.analysis.widgets",
    "flowlogs": "labkit.flowlogs",
}


def open_lab(*args, **kwargs):
    """Open the lab and bring it to the state after notebook ``step``: see :func:`labkit.lab.open_lab`."""
    from labkit.lab import open_lab as _open_lab

    return _open_lab(*args, **kwargs)


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(_LAZY_MODULES[name])
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")
