"""The lab's lifecycle: opening it, its settings and tags, the build steps, inventory and teardown."""

from labkit.lab.lab import Lab, open_lab

__all__ = ["Lab", "open_lab"]
