export { Admin } from './admin.js';
export type { AdminOptions } from './options.js';
export type * from './types.js';
export type * from './group-admin.js';
