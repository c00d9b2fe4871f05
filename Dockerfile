FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY vioip ./vioip
COPY groups ./groups
COPY sessions_app ./sessions_app
COPY screening ./screening
COPY manage.py ./
RUN pip install --no-cache-dir . && useradd --system --uid 10001 vioip
USER vioip
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "vioip.asgi:application"]
