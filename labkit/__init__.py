"""labkit: the library behind the VPC Flow Logs Lab notebooks.

A learner writes ``lab = open_lab(step=4)`` and gets a lab brought to the
state after notebook 4, on the offline emulator by default.
"""

from labkit.errors import LabError

__all__ = ["LabError", "open_lab"]
__version__ = "0.1.0"


def open_lab(*args, **kwargs):
    # Imported lazily so that `import labkit.flowlogs` stays light (no boto3).
    from labkit.lab import open_lab as _open_lab

    return _open_lab(*args, **kwargs)
