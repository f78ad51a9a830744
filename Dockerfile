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
WORKDIR /app
ENV NODE_ENV=production VIGIL_HOST=0.0.0.0 VIGIL_PORT=8080 VIGIL_MODELS=/app/models
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The dashboard page is read from src/ at startup.
COPY src/http/dashboard.html ./src/http/dashboard.html
COPY models ./models
EXPOSE 8080
USER node
ENTRYPOINT ["node", "dist/src/main.js"]
