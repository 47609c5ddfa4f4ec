# paymux: build the gateway, then run it on a slim image. Configure it with PAYMUX__… variables
# and/or a config file named by PAYMUX_CONFIG (see config/production.example.toml).
FROM rust:1-slim-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p paymux-gateway

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/paymux --create-home paymux
COPY --from=build /src/target/release/paymux /usr/local/bin/paymux
USER paymux
WORKDIR /var/lib/paymux
ENV PAYMUX__SERVER__BIND=0.0.0.0:8080 \
    PAYMUX_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["paymux"]
CMD ["serve"]
