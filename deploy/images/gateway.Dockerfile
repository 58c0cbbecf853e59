# stoa-gateway image (docs/kubernetes.md "Images"). Build from the
# repository root:
#   docker build -f deploy/images/gateway.Dockerfile -t stoa/gateway:latest .
# Stage 1 builds with Debian 12's packages (deploy/setup-deps.sh, as on a
# developer machine); stage 2 is debian:12-slim with only the binary and the
# Debian packages its shared libraries come from (runtime-packages.sh),
# running as uid 65532.
FROM debian:12 AS build
WORKDIR /src
COPY deploy/setup-deps.sh deploy/setup-deps.sh
RUN deploy/setup-deps.sh
COPY . .
RUN cmake --preset release -DSTOA_ENABLE_CUDA=OFF -DSTOA_BUILD_TESTS=OFF >/dev/null \
 && cmake --build build/release --target stoa-gateway \
 && deploy/images/runtime-packages.sh build/release/bin/stoa-gateway > /runtime-packages.txt

FROM debian:12-slim
COPY --from=build /runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y -qq --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && install -d -o 65532 -g 65532 /var/lib/stoa /var/cache/stoa
COPY --from=build /src/build/release/bin/stoa-gateway /usr/local/bin/stoa-gateway
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/stoa-gateway"]
CMD ["--listen", "0.0.0.0:8443", "--data-dir", "/var/lib/stoa", "--wasm-cache-dir", "/var/cache/stoa/wasm"]
