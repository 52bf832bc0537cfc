/**
 * Loads the public contract (proto/runnel/v1) for both the broker and the SDK. Field names
 * become camelCase, int64 become JS numbers (offsets and timestamps stay below 2^53), enums
 * their names (the ErrorCode names are the keys of src/common/errors.ts), bytes Buffers.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import protoLoader from '@grpc/proto-loader';

export const PROTO_FILES = ['runnel/v1/broker.proto', 'runnel/v1/admin.proto', 'runnel/v1/groups.proto'];

/** proto/ at the package root, found from this file whether it runs from src/ or dist/src/. */
export function protoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'runnel', 'v1', 'broker.proto'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the proto/ directory of the runnel package');
}

export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

let cached: protoLoader.PackageDefinition | undefined;

export function loadPackageDefinition(): protoLoader.PackageDefinition {
  cached ??= protoLoader.loadSync(PROTO_FILES, { ...PROTO_LOADER_OPTIONS, includeDirs: [protoRoot()] });
  return cached;
}
