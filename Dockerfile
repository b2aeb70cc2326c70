# syntax=docker/dockerfile:1
# Small static images of the tokenwarden commands.
#   docker build -t tokenwarden .                       # worker (default)
#   docker build --build-arg CMD=mockprovider -t tokenwarden-mock .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG CMD=worker
# Static, reproducible binaries: no cgo, no build paths, no VCS stamp.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/worker ./cmd/consumer ./cmd/mockprovider \
 && cp /out/${CMD} /out/entrypoint \
 && mkdir -p /out/spool

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/consumer /out/mockprovider /usr/local/bin/
COPY --from=build /out/entrypoint /usr/local/bin/entrypoint
# TOKENS_SPOOL_DIR, owned by the nonroot user so a volume mounted here is
# writable (Docker copies the ownership into a new named volume).
COPY --from=build --chown=65532:65532 /out/spool /var/lib/tokenwarden/spool
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/entrypoint"]
CMD ["run"]
