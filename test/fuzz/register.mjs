// `node --import ./test/fuzz/register.mjs file.ts`: run the TypeScript sources directly (no build step), in
// the main thread and in every worker (workers inherit --import). See ts-hooks.mjs.
import { register } from 'node:module';

register(new URL('./ts-hooks.mjs', import.meta.url));
