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
#   docker build --build-arg PGO=0 -t endocarp:dev .     # a plain release build, ~2.5x faster to build
#
# The build needs nothing but cargo: build.rs compiles the protobuf files with protox. By
# default (PGO=1) the binary is built by scripts/build-pgo: an instrumented build runs the
# project's own benchmark on loopback inside the build, and the release build is optimised
# with that profile (rustup's llvm-tools is added for llvm-profdata). Same answers, less CPU
# a call: docs/BENCHMARKS.md, "A release built with its own profile".

FROM rust:1.94-bookworm AS build
ARG FEATURES=""
ARG PGO=1
WORKDIR /src
COPY . .
RUN if [ "$PGO" = 1 ]; then \
      FEATURES="$FEATURES" scripts/build-pgo && install -D -m 0755 target/pgo/endocarp /out/endocarp; \
    else \
      cargo build --release --locked ${FEATURES:+--features "$FEATURES"} \
      && install -D -m 0755 target/release/endocarp /out/endocarp; \
    fi

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
