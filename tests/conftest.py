"""Session fixtures shared by every test folder (see tests/fixtures/)."""

import os

os.environ.setdefault("APP_ENV", "test")

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.temporal",
    "tests.fixtures.chains",
    "tests.fixtures.api",
    "tests.fixtures.worker",
    "tests.fixtures.identity",
    "tests.fixtures.kyc",
]
