/** The storage engine's public surface: what the broker and the coordinator build on. */
export { PartitionLog, type AppendResult, type LogReadResult, type PartitionLogOptions } from './partition-log.js';
export { LogManager, CLEAN_SHUTDOWN_FILE, type LogManagerOptions, type OpenReport } from './log-manager.js';
export { DEFAULT_LOG_CONFIG, resolveLogConfig, SEGMENT_BYTES_MAX, type LogConfig, type CleanupPolicy } from './log-config.js';
export { CheckedBatch } from './checked-batch.js';
export { compactLog, type CompactionResult } from './compaction.js';
export { offsetForTimestamp } from './timestamp-lookup.js';
