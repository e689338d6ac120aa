# hydroserve: the acoustic data service, served by gunicorn (gevent workers: slow or idle clients cost a
# greenlet, not a thread) as a non-root user. On the public internet, put a buffering proxy in front
# (deploy/nginx.conf).
# Run with the address clients reach it at, which goes into every resource record:
#   docker run -e HYDROSERVE_PUBLIC_URL=https://acoustics.example.org -p 8000:8000 -v data:/var/lib/hydroserve hydroserve
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HYDROSERVE_DATA_DIR=/var/lib/hydroserve \
    HYDROSERVE_BIND=0.0.0.0:8000

# libsndfile for soundfile comes with its wheel; nothing else is needed from Debian.
RUN useradd --system --create-home --home-dir /home/hydroserve --uid 10001 hydroserve \
    && mkdir -p /var/lib/hydroserve && chown hydroserve /var/lib/hydroserve

WORKDIR /opt/hydroserve
COPY pyproject.toml README.md ./
COPY acoustics ./acoustics
COPY codecs ./codecs
COPY odc_sync ./odc_sync
COPY api ./api
COPY samples ./samples
RUN pip install --upgrade "pip>=24" "setuptools>=69" && pip install .

USER hydroserve
VOLUME ["/var/lib/hydroserve"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"
# Every command starts by bringing the catalog to the newest schema revision (`hydroserve db init`: the migrations, then
# the registry rows and catalog id if missing; idempotent, and concurrent containers queue for it).
ENTRYPOINT ["sh", "-c", "hydroserve db init && exec \"$@\"", "hydroserve-entrypoint"]
CMD ["hydroserve", "serve"]
