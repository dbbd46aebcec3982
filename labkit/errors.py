"""The one exception type a learner sees: a single readable line, no traceback soup."""


class LabError(Exception):
    """A problem the learner can act on. The message names what is wrong and what to do."""

    def _render_traceback_(self):
        # IPython's InteractiveShell.showtraceback shows what this returns instead of the traceback, in
        # a terminal and in Jupyter, for errors raised in cells and in widget callbacks alike; nothing
        # needs installing (a set_custom_exc handler would cover cells only, and only once installed).
        return [f"LabError: {self}"]
