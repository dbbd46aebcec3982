"""Fidelity tests: each checks one documented AWS behaviour against the emulator, through plain boto3,
and names the AWS documentation page (title and URL) it reproduces in its docstring."""
