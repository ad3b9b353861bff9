"""Uvicorn factory target: ``uvicorn api.main:build_app --factory``."""

from __future__ import annotations

from fastapi import FastAPI

from api.app import create_app
from config.settings import load_settings


def build_app() -> FastAPI:
    return create_app(load_settings())
