"""labkit: the library behind the VPC Flow Logs Lab notebooks.

A learner writes ``lab = open_lab(step=4)`` and gets a lab brought to the state after
notebook 4, on the offline emulator by default. What a notebook may import is ``__all__``:

* ``open_lab`` opens the lab (a :class:`~labkit.lab.lab.Lab`, whose methods build, read and show it);
* ``check_setup`` checks the learner's configuration before anything is created;
* ``show_policy`` shows an IAM policy document as highlighted JSON;
* ``charts``, ``widgets``, ``queries``, ``exercises``: flow-log charts, the explorer widget,
  AWS's sample Logs Insights queries, and the end-of-notebook exercises;
* ``flowlogs``: the flow-log format and its reader;
* ``LabError``: what every failure raises, with what to do about it.
"""

import importlib

from labkit.errors import LabError

__all__ = ["LabError", "charts", "check_setup", "exercises", "flowlogs", "open_lab", "queries",
           "show_policy", "widgets"]
__version__ = "0.1.0"

# Loaded on first use, so that ``import labkit.flowlogs`` stays light (no boto3, no matplotlib):
# name -> (module, attribute of it, or None for the module itself).
_LAZY = {
    "open_lab": ("labkit.lab.lab", "open_lab"),
    "check_setup": ("labkit.lab.setup_check", "check_setup"),
    "show_policy": ("labkit.analysis.views", "show_policy"),
    "charts": ("labkit.analysis.charts", None),
    "exercises": ("labkit.analysis.exercises", None),
    "queries": ("labkit.analysis.queries", None),
    "widgets": ("labkit.analysis.widgets", None),
    "flowlogs": ("labkit.flowlogs", None),
}


def __getattr__(name: str):
    if name in _LAZY:
        module_name, attribute = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attribute is None else getattr(module, attribute)
    raise AttributeError(f"module 'labkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
