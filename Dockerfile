# The vioip worker image: daphne (web, rooms), the sweep and the one-shot jobs of
# docker-compose.yml. Dependencies come from requirements.lock, pinned and hash-checked,
# never "whatever is newest today" (refresh it: docs/deployment.md, "Dependencies").
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/app
WORKDIR /app
COPY requirements.lock ./
# Wheels only: a source build would fetch its build tools unpinned.
RUN pip install --no-cache-dir --no-deps --require-hashes --only-binary=:all: \
        -r requirements.lock \
    && useradd --system --uid 10001 vioip
# The application runs from its source folder (PYTHONPATH), not as an installed package.
COPY manage.py pyproject.toml ./
COPY vioip ./vioip
COPY groups ./groups
COPY sessions_app ./sessions_app
COPY screening ./screening
COPY deploy/self_signed_cert.py ./deploy/
USER vioip
EXPOSE 8000
# Never --proxy-headers: the proxy is named in VIOIP_TRUSTED_PROXIES instead. vioip.server
# is daphne with its timeout pass spread out (vioip/server.py).
CMD ["python", "-m", "vioip.server", "-b", "0.0.0.0", "-p", "8000", "vioip.asgi:application"]
