# The one place the version is set: pyproject.toml reads it (dynamic), so the wheel's metadata and
# `rushes version` never disagree.
__version__ = "0.1.0"
