# syntax=docker/dockerfile:1
#
# The bloodraven image: the Kubernetes-mode daemon (deploy/deployment.yaml) and every Job it
# creates run it, each with `command: ["bloodraven"]` and the subcommand in `args`.
#
# Nothing on the development machines can build images, so this build is untested there;
# test/unit/dockerfile.test.ts checks what can be checked without building: the Node major, the
# non-root user, the paths the Jobs mount, and that `bloodraven` is on PATH as the entrypoint.

# Node 24, as package.json's `node` devDependency pins for development and tests.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency would fetch a second Node 24 (the base image is
# one), and the `prepare` script would build before the sources are copied.
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY scripts/gen-manifest.js ./scripts/
# What `npm run build` does: compile, then write oclif.manifest.json from the built commands (with
# it, `--help` and `--version` import no command module, and a Job's command starts sooner).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json && node scripts/gen-manifest.js

FROM ${NODE_IMAGE}
# MariaDB's client tools (mariadb, mariadb-dump, mariadb-binlog; `mysql` and `mysqldump` are
# links to them, and they speak MySQL 8's caching_sha2_password). Backups and cleanups use
# bloodraven's own engine, no tool.
# mariadb-server: the verification Jobs' scratch server (`verify --scratch sandbox` starts
# mariadbd after mariadb-install-db, with a datadir under TMPDIR, the pod's /tmp emptyDir, as the
# pod's uid 27 on a read-only root). Its `mysqlbinlog` link is MariaDB's tool, which cannot read
# every MySQL 8 binlog; bloodraven's PITR reads binlogs itself. The package's own datadir and
# service files are of no use here: /var/lib/mysql is removed, nothing starts at boot.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates mariadb-client mariadb-server \
 && rm -rf /var/lib/apt/lists/* /var/lib/mysql

# The `bloodraven` user, uid/gid 27: the Jobs' pods run as 27:27 by default (the reference's
# security context) and the daemon's Deployment does the same. Debian's base-passwd already
# has a group 27 (`sudo`, unused here: no sudo is installed); it is renamed rather than shared.
RUN set -eu; \
    if existing="$(getent group 27)"; then groupmod --new-name bloodraven "${existing%%:*}"; else groupadd --gid 27 bloodraven; fi; \
    useradd --uid 27 --gid 27 --home-dir /home/bloodraven --create-home --shell /usr/sbin/nologin bloodraven

WORKDIR /opt/bloodraven
COPY package.json package-lock.json ./
# Runtime dependencies only; --ignore-scripts keeps `prepare` (a build) from running.
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/oclif.manifest.json ./
# `bloodraven` on PATH: run.js's shebang finds the image's node.
RUN ln -s /opt/bloodraven/bin/run.js /usr/local/bin/bloodraven

# Mount points of the Jobs' volumes (Secrets as files, a PVC profile's claim, a restore's
# read-only source claim, the binlogs a point-in-time restore downloads). Kubernetes creates them
# anyway; here they document the layout and /backups and /pitr-binlogs are the user's.
RUN mkdir -p /run/bloodraven/mysql-creds /run/bloodraven/aws-creds /run/bloodraven/encryption /backups /restore-source /pitr-binlogs \
 && chown 27:27 /backups /pitr-binlogs

ENV HOME=/home/bloodraven NODE_ENV=production
# Numeric, so the kubelet can check runAsNonRoot against it.
USER 27:27
WORKDIR /home/bloodraven
ENTRYPOINT ["bloodraven"]
CMD ["--help"]
