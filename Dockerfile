# Vigil: ONNX model-serving gateway. Debian 12 base (the uWebSockets.js binary needs glibc >= 2.27).
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY bench ./bench
COPY native-bench ./native-bench
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
# tini as PID 1: forwards SIGTERM to Vigil (which drains: stops accepting, answers every
# admitted request, exits 0) and reaps orphaned processes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production VIGIL_HOST=0.0.0.0 VIGIL_PORT=8080 VIGIL_MODELS=/app/models
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The dashboard page is read from src/ at startup.
COPY src/http/dashboard.html ./src/http/dashboard.html
# The bundled models; mount your own repository over /app/models (or set VIGIL_MODELS).
COPY models ./models
EXPOSE 8080
# The image's unprivileged `node` user (uid 1000); nothing under /app needs to be writable.
USER node
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 CMD ["node", "dist/src/healthcheck.js"]
ENTRYPOINT ["/usr/bin/tini", "--", "node", "dist/src/main.js"]
