# syntax=docker/dockerfile:1
#
# Vibefollow in a container: one executable on a slim Debian base, all state in the /data volume.
#
#   docker build -t vibefollow .
#   docker run -d --name vf -p 8080:8080 -v vf-data:/data vibefollow
#   docker logs vf                      # the first start prints an API key and a dashboard password once
#   docker exec vf vibefollow keys create --name backend
#
# Configuration: put vibefollow.toml in the volume (/data/vibefollow.toml, picked up from the working
# directory), or mount it anywhere and set VIBEFOLLOW_CONFIG. Without one, the embedded defaults run.
# VIBEFOLLOW_LISTEN and VIBEFOLLOW_DATABASE_URL (set below) override server.listen and database.url.

# ---- build: Node + npm install exactly what package-lock.json pins (Bun included), then bun build --compile
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY bunfig.toml tsconfig.json ./
COPY scripts ./scripts
COPY migrations ./migrations
COPY src ./src
# Built for the architecture of the build (amd64 → linux-x64-gnu, arm64 → linux-arm64-gnu): npm ci installed
# that libSQL native library, and scripts/build.ts embeds it in the executable.
RUN node_modules/.bin/bun run build && ./dist/vibefollow version

# ---- run: the executable alone, as an unprivileged user
FROM debian:bookworm-slim
# ca-certificates: SMTPS, webhooks and the drafting endpoint speak TLS to the outside world.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vibefollow \
 && useradd --system --uid 10001 --gid vibefollow --home-dir /data --shell /usr/sbin/nologin vibefollow \
 && mkdir -p /data \
 && chown vibefollow:vibefollow /data
COPY --from=build /src/dist/vibefollow /usr/local/bin/vibefollow

ENV VIBEFOLLOW_LISTEN=0.0.0.0:8080 \
    VIBEFOLLOW_DATABASE_URL=file:/data/vibefollow.db
WORKDIR /data
VOLUME /data
USER vibefollow:vibefollow
EXPOSE 8080
# No curl in the image: the binary checks itself (GET /healthz on VIBEFOLLOW_LISTEN; exit 0 healthy, 1 not).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["vibefollow", "healthcheck"]
# SIGTERM (docker stop) shuts down cleanly: requests and commits in flight finish, the database is closed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["vibefollow"]
CMD ["serve"]
