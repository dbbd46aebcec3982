"""The one exception type a learner sees: a single readable line, no traceback soup."""


class LabError(Exception):
    """A problem the learner can act on. The message names what is wrong and what to do."""

    def _render_traceback_(self):
        # IPython calls this instead of printing the full traceback.
        return [f"LabError: {self}"]
