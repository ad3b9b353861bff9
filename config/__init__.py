"""Configuration: typed settings from ``config/<APP_ENV>.yaml`` plus environment overrides."""

from config.settings import ConfigError, Settings, load_settings

__all__ = ["ConfigError", "Settings", "load_settings"]
