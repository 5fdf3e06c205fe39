# envhub hub: serves every environment of a build folder over MCP + REST.
#   docker build -t envhub .
#   docker run -p 8000:8000 -e ENVHUB_TOKEN=secret -v "$PWD/build:/build:ro" envhub serve /build --host 0.0.0.0
# The image installs only the `serve` extra (pyproject.toml): the runtime and the hosting hub, none of
# synthesis, collection or training (`envhub serve` and `envhub stdio` work; the other subcommands
# stop with the missing module's name).
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so editing the code does not reinstall them.
COPY pyproject.toml README.md ./
RUN pip install '.[serve]' \
    && pip uninstall -y envhub

# The code (what .dockerignore leaves: the packages, no tests, docs or local outputs).
COPY . .
RUN pip install --no-deps . && useradd --create-home --uid 10001 envhub

USER envhub
EXPOSE 8000
# The hub needs a token on 0.0.0.0; pass it as ENVHUB_TOKEN (it refuses to start without one).
ENTRYPOINT ["envhub"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]

HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status == 200 else 1)"
