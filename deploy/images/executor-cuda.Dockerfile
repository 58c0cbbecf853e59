# stoa-executor image with the CUDA runtime (docs/kubernetes.md "Images",
# docs/gpu.md). Build from the repository root:
#   docker build -f deploy/images/executor-cuda.Dockerfile -t stoa/executor-cuda:latest .
# CUDA, cuBLAS and cuDNN come from NVIDIA's Debian 12 apt repository (the
# cuda-keyring package); the build stage compiles with STOA_ENABLE_CUDA=ON,
# the run-time stage carries the libraries the binary links, found as in
# gateway.Dockerfile (NVIDIA's packages included). The node's driver comes
# from the NVIDIA container toolkit at run time.
ARG CUDA_VERSION=13-0
FROM debian:12 AS build
ARG CUDA_VERSION
WORKDIR /src
ADD https://developer.download.nvidia.com/compute/cuda/repos/debian12/x86_64/cuda-keyring_1.1-1_all.deb /tmp/cuda-keyring.deb
RUN dpkg -i /tmp/cuda-keyring.deb && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends cuda-nvcc-${CUDA_VERSION} \
      cuda-cudart-dev-${CUDA_VERSION} libcublas-dev-${CUDA_VERSION} libcudnn9-dev-cuda-13
COPY deploy/setup-deps.sh deploy/setup-deps.sh
RUN deploy/setup-deps.sh
COPY . .
ENV PATH=/usr/local/cuda/bin:$PATH
RUN cmake --preset release -DSTOA_ENABLE_CUDA=ON -DSTOA_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES="80;90" >/dev/null \
 && cmake --build build/release --target stoa-executor \
 && deploy/images/runtime-packages.sh build/release/bin/stoa-executor > /runtime-packages.txt

FROM debian:12-slim
COPY --from=build /tmp/cuda-keyring.deb /tmp/cuda-keyring.deb
COPY --from=build /runtime-packages.txt /tmp/runtime-packages.txt
RUN dpkg -i /tmp/cuda-keyring.deb && apt-get update -qq \
 && xargs -a /tmp/runtime-packages.txt apt-get install -y -qq --no-install-recommends wabt gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt /tmp/cuda-keyring.deb \
 && install -d -o 65532 -g 65532 /var/cache/stoa
COPY --from=build /src/build/release/bin/stoa-executor /usr/local/bin/stoa-executor
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 65532:65532
EXPOSE 50051 50052 9090
ENTRYPOINT ["/usr/local/bin/stoa-executor"]
CMD ["--listen", "0.0.0.0:50051", "--health-listen", "0.0.0.0:50052", "--device", "cuda", "--wasm-cache-dir", "/var/cache/stoa/wasm"]
