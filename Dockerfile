# clusterdns: built with CI's commands (the contract cmake command), run from a slim image as
# 65532:65532, needing only NET_BIND_SERVICE and writing nothing (readOnlyRootFilesystem works).
# tests/integration/test_kube_system.py checks that the runtime stage installs every library the
# binary links.
FROM debian:bookworm AS build
# The build half of .ci/packages, without the test tools; libcap2-bin for setcap.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ pkg-config \
      libuv1-dev libyaml-dev libyaml-cpp-dev libfmt-dev libcurl4-openssl-dev libsimdjson-dev \
      libc-ares-dev libpcre2-dev libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCLUSTERDNS_TESTS=OFF \
 && cmake --build build -j2
# A non-root process binds port 53 through this file capability, where the runtime leaves
# unprivileged ports at 1024 (the host's network, for one). The container must then keep
# NET_BIND_SERVICE (Docker's default set has it; the manifests add it), or exec fails.
RUN setcap cap_net_bind_service=+ep build/clusterdns

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libuv1 libyaml-0-2 libyaml-cpp0.7 libfmt9 \
      libcurl4 libsimdjson14 libc-ares2 libpcre2-8-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/clusterdns /usr/bin/clusterdns
# Not under /etc/clusterdns: the Deployment mounts its ConfigMap there.
COPY examples/ /usr/share/clusterdns/examples/
USER 65532:65532
# DNS, health, ready, metrics.
EXPOSE 53/udp 53/tcp 8080 8181 9153
ENTRYPOINT ["/usr/bin/clusterdns"]
# The Deployment passes --config /etc/clusterdns/config.yaml instead.
CMD ["--manifests", "/usr/share/clusterdns/examples", "--listen", "0.0.0.0:53"]
