// The command line of a server that serves one bundled model version by itself (the Fastify
// peer, the gateway floor): where to listen, and which version, with its held-out feature names.
import { resolve } from 'node:path';
import { findVersion, readHeldout } from './model-repo.js';

export interface PeerOptions {
  host: string;
  port: number;
  modelName: string;
  version: string;
  onnxPath: string;
  featureNames: string[];
}

/** --host, --port, --models, --model, --version; exits 2 when the version or its held-out rows are missing. */
export function peerOptions(server: string, argv: readonly string[] = process.argv): PeerOptions {
  const option = (name: string, fallback: string): string => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const modelsDir = resolve(option('models', 'models'));
  const modelName = option('model', 'breast-cancer');
  const version = option('version', '2');
  const files = findVersion(modelsDir, modelName, version);
  if (!files?.heldoutPath) {
    console.error(`${server}: ${modelsDir}/${modelName}/${version} needs model.onnx and heldout.json`);
    process.exit(2);
  }
  return {
    host: option('host', '127.0.0.1'),
    port: Number(option('port', '0')),
    modelName,
    version,
    onnxPath: files.onnxPath,
    featureNames: readHeldout(files.heldoutPath).featureNames,
  };
}
