# syntax=docker/dockerfile:1
# edgechain: the host binary plus the example plugins, in a small non-root image.
#
#   docker build -t edgechain:0.1.0 .
#   docker run --rm -p 8080:80 -p 9000:9000 -v "$PWD/my-config:/opt/proxy_config:ro" \
#       edgechain:0.1.0 serve --next-hop host.docker.internal:8081

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN rustup target add wasm32-wasip2
COPY . .
RUN cargo build --release --locked -p edgechain-cli \
    && cargo xtask plugins \
    && mkdir -p /out/plugins \
    && cp target/release/edgechain /out/edgechain \
    && cp target/plugins/*.wasm /out/plugins/

FROM debian:bookworm-slim
# libcap2-bin only to let the non-root user bind port 80, then removed.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libcap2-bin \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 edgechain \
    && useradd --system --uid 10001 --gid edgechain --no-create-home --shell /usr/sbin/nologin edgechain \
    && mkdir -p /opt/proxy_config /opt/edgechain/plugins /var/cache/edgechain \
    && chown edgechain:edgechain /var/cache/edgechain
COPY --from=build /out/edgechain /usr/local/bin/edgechain
COPY --from=build /out/plugins/ /opt/edgechain/plugins/
COPY deploy/section/validate.sh deploy/section/prepare.sh /opt/section/
COPY examples/proxy_config/ /opt/proxy_config/
RUN setcap cap_net_bind_service=+ep /usr/local/bin/edgechain \
    && apt-get purge -y --auto-remove libcap2-bin \
    && cp /opt/edgechain/plugins/*.wasm /opt/proxy_config/ \
    && chmod 0755 /opt/section/validate.sh /opt/section/prepare.sh
USER 10001:10001
ENV EDGECHAIN_CONFIG=/opt/proxy_config \
    EDGECHAIN_MODULE_DIRS=/opt/edgechain/plugins \
    EDGECHAIN_COMPILE_CACHE=/var/cache/edgechain
EXPOSE 80 9000
ENTRYPOINT ["/usr/local/bin/edgechain"]
CMD ["serve"]
