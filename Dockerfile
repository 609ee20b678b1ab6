# edgechain: the host binary and the example plugins in a small non-root image.
#
# The image packages files built beforehand (no Rust toolchain in the build):
#
#   cargo xtask dist                  # target/dist/: release binary, plugins, example chain
#   docker build -t edgechain:0.1.0 .
#
# and runs as the platform runs it: configuration mounted read-only at
# /opt/proxy_config, next-hop resolved through /etc/hosts, HTTP on 80, metrics on 9000:
#
#   docker run --rm --read-only -p 8080:80 -p 9000:9000 \
#       -v "$PWD/target/dist/proxy_config:/opt/proxy_config:ro" \
#       --add-host next-hop:host-gateway edgechain:0.1.0
#
# Only the base image comes from a registry (there is no `# syntax` line, so BuildKit
# uses its built-in frontend and pulls nothing else). `.ci/container-test` builds this
# file offline from a local debootstrap of the same base and checks the contract.

# Stage 1: give the binary cap_net_bind_service, so user 10001 can listen on port 80,
# and make the platform hooks executable. libcap2-bin stays out of the final image.
FROM debian:bookworm-slim AS prepare
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libcap2-bin \
    && rm -rf /var/lib/apt/lists/*
COPY target/dist/edgechain /usr/local/bin/edgechain
COPY deploy/section/validate.sh deploy/section/prepare.sh /opt/section/
RUN setcap cap_net_bind_service=+ep /usr/local/bin/edgechain \
    && chmod 0755 /usr/local/bin/edgechain /opt/section/validate.sh /opt/section/prepare.sh

# Stage 2: the runtime image. Root filesystem read-only at run time: the only place it
# writes is the compile cache volume (optional; an emptyDir on Kubernetes).
FROM debian:bookworm-slim
RUN groupadd --system --gid 10001 edgechain \
    && useradd --system --uid 10001 --gid edgechain --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin edgechain \
    && mkdir -p /var/cache/edgechain \
    && chown edgechain:edgechain /var/cache/edgechain
# Copied as a directory: both BuildKit and the legacy builder then keep the file
# capability (the legacy builder drops it when copying a single file).
COPY --from=prepare /usr/local/bin/ /usr/local/bin/
COPY --from=prepare /opt/section/ /opt/section/
COPY target/dist/plugins/ /opt/edgechain/plugins/
COPY target/dist/proxy_config/ /opt/proxy_config/
USER 10001:10001
ENV EDGECHAIN_CONFIG=/opt/proxy_config \
    EDGECHAIN_MODULE_DIRS=/opt/edgechain/plugins \
    EDGECHAIN_COMPILE_CACHE=/var/cache/edgechain
VOLUME ["/var/cache/edgechain"]
EXPOSE 80 9000
ENTRYPOINT ["/usr/local/bin/edgechain"]
CMD ["serve"]
