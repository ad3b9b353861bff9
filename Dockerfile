# One image for the API and the worker: `custody api` or `custody worker`.
FROM python:3.13-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 custody
WORKDIR /app
COPY pyproject.toml README.md ./
COPY config config
COPY db db
COPY domain domain
COPY contracts contracts
COPY chains chains
COPY activities activities
COPY workflows workflows
COPY workers workers
COPY services services
COPY api api
COPY cli cli
RUN pip install .
USER custody
ENV APP_ENV=production
EXPOSE 8080
CMD ["custody", "api"]
