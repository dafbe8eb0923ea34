/** Runs the CLI's main() in process with captured output, as a user's terminal (not a TTY) would see it. */
import { type Io, main } from '../../src/cli/main.js';

export async function runMain(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = { out: (s) => (out += s), err: (s) => (err += s), isTty: false };
  const code = await main(args, io);
  return { code, out, err };
}
