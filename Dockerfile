# clusterdns: the same build as CI (the contract cmake command), then a slim non-root image.
FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ pkg-config \
      libuv1-dev libyaml-dev libyaml-cpp-dev libfmt-dev doctest-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DCLUSTERDNS_TESTS=OFF \
 && cmake --build build -j2

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libuv1 libyaml-0-2 libyaml-cpp0.7 libfmt9 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/clusterdns /usr/bin/clusterdns
COPY examples/ /etc/clusterdns/manifests/
# Container runtimes set net.ipv4.ip_unprivileged_port_start=0, so port 53 needs no root;
# on hosts that do not, grant NET_BIND_SERVICE in the pod's securityContext.
USER 65532:65532
EXPOSE 53/udp 53/tcp
ENTRYPOINT ["/usr/bin/clusterdns"]
CMD ["--manifests", "/etc/clusterdns/manifests", "--listen", "0.0.0.0:53"]
