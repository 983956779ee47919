# fnf and your team's handlers in one image, for Render (runtime: docker or image) and Kubernetes.
#
#   docker build -t registry.example.com/fnf:1 .                      # Node is included by default
#   docker build --build-arg EXTRA_PACKAGES="" -t fnf:1 .             # Python handlers only
#
# Your code goes in handlers/ (copied to /app/handlers, the working directory, which is also on
# PYTHONPATH): Python modules for FNF_HANDLER_<TYPE>=module:function, scripts for
# FNF_COMMAND_<TYPE>="node score-leads.js {client_id}". A package.json there is installed with
# npm ci, a requirements.txt with pip. The image runs as user 10001, never as root.
FROM python:3.11-slim

ARG EXTRA_PACKAGES="nodejs npm"
RUN if [ -n "$EXTRA_PACKAGES" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $EXTRA_PACKAGES \
        && rm -rf /var/lib/apt/lists/*; \
    fi

WORKDIR /app
COPY pyproject.toml README.md ./
COPY fnf ./fnf
RUN pip install --no-cache-dir .

COPY handlers ./handlers
RUN if [ -f handlers/requirements.txt ]; then pip install --no-cache-dir -r handlers/requirements.txt; fi \
    && if [ -f handlers/package.json ]; then cd handlers && npm ci --omit=dev; fi

RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin fnf
USER 10001:10001
ENV PYTHONPATH=/app/handlers PYTHONUNBUFFERED=1
WORKDIR /app/handlers
CMD ["fnf", "--help"]
