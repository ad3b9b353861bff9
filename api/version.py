"""The API's version, as served in health and info."""

API_VERSION = "0.1.0"
