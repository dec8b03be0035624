"""sessionctl: book one-on-one live sessions between educators and students."""

__version__ = "0.1.0"
