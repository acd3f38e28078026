# One image for both roles: the market node (the default command) and the provider's worker.
#
#   docker build -t taskmarket .
#   docker run -d --name market -p 8080:8080 -v taskmarket-data:/data taskmarket
#   docker run -d --name worker --gpus all -v /etc/taskmarket:/etc/taskmarket:ro -v /srv/models:/models:ro \
#     taskmarket --url http://market.example:8080 worker --config /etc/taskmarket/worker.toml
#
# The node keeps its PGlite database and operator key in /data (set DATABASE_URL for
# PostgreSQL). The worker runs GGUF models with the llama.cpp binaries that npm installs for
# linux-x64: CUDA when the container has a GPU (`--gpus all`, the NVIDIA container toolkit),
# the CPU otherwise. Nothing is compiled or downloaded at run time. The node answers
# GET /healthz for a health check (the worker has no HTTP port).

ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` (the build) runs below once the sources are in, and node-llama-cpp's
# postinstall is not needed with its prebuilt binaries.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim
ENV NODE_ENV=production \
    TASKMARKET_DATA_DIR=/data \
    TASKMARKET_HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY LICENSE README.md ./
COPY examples ./examples
RUN ln -s /app/dist/cli/main.js /usr/local/bin/taskmarket && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
ENTRYPOINT ["taskmarket"]
CMD ["serve"]
