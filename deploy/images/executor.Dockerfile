# stoa-executor image, CPU (docs/kubernetes.md "Images"). Build from the
# repository root:
#   docker build -f deploy/images/executor.Dockerfile -t stoa/executor:latest .
# As gateway.Dockerfile; the run-time stage adds wabt (wasm2c, wasm-rt.h) and
# gcc, which the Wasm AOT tier runs to compile modules (--wasm-engine auto
# falls back to the interpreter without them).
FROM debian:12 AS build
WORKDIR /src
COPY deploy/setup-deps.sh deploy/setup-deps.sh
RUN deploy/setup-deps.sh
COPY . .
RUN cmake --preset release -DSTOA_ENABLE_CUDA=OFF -DSTOA_BUILD_TESTS=OFF >/dev/null \
 && cmake --build build/release --target stoa-executor \
 && deploy/images/runtime-packages.sh build/release/bin/stoa-executor > /runtime-packages.txt

FROM debian:12-slim
COPY --from=build /runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update -qq \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y -qq --no-install-recommends wabt gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && install -d -o 65532 -g 65532 /var/cache/stoa
COPY --from=build /src/build/release/bin/stoa-executor /usr/local/bin/stoa-executor
USER 65532:65532
EXPOSE 50051 50052 9090
ENTRYPOINT ["/usr/local/bin/stoa-executor"]
CMD ["--listen", "0.0.0.0:50051", "--health-listen", "0.0.0.0:50052", "--wasm-cache-dir", "/var/cache/stoa/wasm"]
