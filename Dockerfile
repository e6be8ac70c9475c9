# syntax=docker/dockerfile:1
# Endocarp server image, published as ghcr.io/endocarp/endocarp:<version> (the Helm
# chart's image.repository; its tag defaults to the chart's appVersion).
#
#   docker build -t ghcr.io/endocarp/endocarp:0.1.0 .
#   docker build --build-arg FEATURES=otlp -t ghcr.io/endocarp/endocarp:0.1.0-otlp .
#
#   docker run -p 50051:50051 -p 9090:9090 -v endocarp:/home/nonroot ghcr.io/endocarp/endocarp:0.1.0 \
#     serve --listen 0.0.0.0:50051 --ops-listen 0.0.0.0:9090
#
# The build needs nothing but cargo: build.rs compiles the protobuf files with protox.

FROM rust:1.94-bookworm AS build
ARG FEATURES=""
WORKDIR /src
COPY . .
RUN cargo build --release --locked ${FEATURES:+--features "$FEATURES"} \
 && install -D -m 0755 target/release/endocarp /out/endocarp

# Distroless with glibc and libgcc, no shell; user nonroot (65532:65532), the chart's
# runAsUser/runAsGroup.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="endocarp" \
      org.opencontainers.image.description="Authorization-decision gRPC service: ODRL policy decisions over triple events" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/endocarp/endocarp"
COPY --from=build /out/endocarp /usr/local/bin/endocarp
# The default sqlite://endocarp.db lands here; the chart uses /var/lib/endocarp instead.
WORKDIR /home/nonroot
USER 65532:65532
# 50051 decision gRPC, 50052 admin gRPC, 9090 operations HTTP (/livez, /readyz, /metrics).
EXPOSE 50051 50052 9090
ENTRYPOINT ["/usr/local/bin/endocarp"]
CMD ["serve"]
